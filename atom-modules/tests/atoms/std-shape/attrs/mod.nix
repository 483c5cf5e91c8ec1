{
  Only = mod.only;
  Keep = mod.keep;
  Deep = mod.deep;
  Inject = mod.inject;
}
