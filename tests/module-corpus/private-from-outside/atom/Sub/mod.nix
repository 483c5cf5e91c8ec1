{
  hidden = 3;
  Shown = 4;
}
