{
  Text = builtins.readFile "${mod}/data.txt";
  Logo = builtins.readFile "${mod}/assets/logo.txt";
  Exists = builtins.pathExists "${mod}/data.txt";
  Missing = builtins.pathExists "${mod}/nope.txt";
  # `notes.v1.nix` is no Nix source of the module (its name has two dots):
  # data, readable and listed; mod.nix and the submodule `Sub` are not.
  Dotted = builtins.readFile "${mod}/notes.v1.nix";
  Listing = builtins.attrNames (builtins.readDir "${mod}");
}
