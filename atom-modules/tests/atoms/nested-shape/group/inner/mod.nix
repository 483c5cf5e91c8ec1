{
  one = 1;
  Part = pre.part + 2;
  extra = mod.part + 4;
}
