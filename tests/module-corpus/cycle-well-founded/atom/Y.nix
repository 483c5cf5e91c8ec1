{
  val = 2;
  other = mod.x.val;
}
