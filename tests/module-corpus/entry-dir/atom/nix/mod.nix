{
  Hello = "from entry";
  Cfg = cfg.package.label;
  Data = builtins.readFile "${mod}/data.txt";
}
