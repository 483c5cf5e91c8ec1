{
  one = 1;
  part = pre.part + 2;
  extra = mod.part + 4;
  Inner = mod.inner;
}
