{
  Upper = mod.upper;
}
