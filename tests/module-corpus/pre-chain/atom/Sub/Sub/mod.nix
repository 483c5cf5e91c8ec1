{
  Out = pre.bar == pre.pre.foo + 1;
  Val = pre.pre.foo;
  Helper = pre.pre.helper;
}
