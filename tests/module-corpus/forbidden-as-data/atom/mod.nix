{
  Keys = { import = 1; path = 2; derivation = 3; };
  Local = let path = "p"; fetchurl = "f"; in path + fetchurl;
  Fn = ({ path, ... }: path) { path = "arg"; };
  Sel = { storeDir = "s"; }.storeDir;
  Inh = let import = 5; in { inherit import; };
  Str = "import derivation getEnv";
  Member = mod.path;
}
