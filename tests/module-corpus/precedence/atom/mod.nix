{
  Foo = "mod.nix";
  helper = "mod.nix helper";
  UseHelper = mod.helper;
}
