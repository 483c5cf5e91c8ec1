{
  Fine = 1;
  UseDep = deps.from.pub.base;
}
