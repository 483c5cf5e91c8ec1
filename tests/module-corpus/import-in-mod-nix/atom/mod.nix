{
  A = 1;
  B = if false then import "${mod}/v.txt" else 2;
}
