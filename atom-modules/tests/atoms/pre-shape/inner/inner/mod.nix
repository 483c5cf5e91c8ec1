{
  Same = pre.copy == pre.pre.secret;
  Sum = pre.copy + pre.pre.secret;
  ParentNames = builtins.attrNames pre;
  RootNames = builtins.attrNames pre.pre;
  SeesPrivate = atom ? secret;
  # a private name of the root is not in `atom`: an error when used
  Fails = atom.secret;
}
