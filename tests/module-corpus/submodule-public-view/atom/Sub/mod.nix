{
  Pub = 1;
  priv = 2;
}
