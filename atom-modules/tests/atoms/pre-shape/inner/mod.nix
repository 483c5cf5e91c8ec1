{
  copy = pre.secret;
  Inner = mod.inner;
  Level = "one";
}
