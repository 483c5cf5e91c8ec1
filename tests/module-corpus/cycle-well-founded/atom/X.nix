{
  val = 1;
  other = mod.y.val;
}
