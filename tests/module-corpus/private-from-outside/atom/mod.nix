{
  secret = 1;
  Pub = 2;
}
