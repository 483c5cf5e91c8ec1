{
  g = pre.one + 4;
  h = mod.g + 3;
}
