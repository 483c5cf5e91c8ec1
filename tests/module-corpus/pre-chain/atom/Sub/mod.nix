{
  bar = pre.foo + 1;
  Sibling = pre.other.z;
}
