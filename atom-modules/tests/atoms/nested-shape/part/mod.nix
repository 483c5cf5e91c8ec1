{
  one = 1;
  part = atom.one + 2;
  extra = mod.part + 4;
}
