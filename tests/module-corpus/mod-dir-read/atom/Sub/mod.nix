{
  Json = builtins.fromJSON (builtins.readFile "${mod}/info.json");
  Own = builtins.pathExists "${mod}/info.json";
  NotParent = builtins.pathExists "${mod}/data.txt";
}
