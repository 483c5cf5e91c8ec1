{
  Unused = pre.one;
}
