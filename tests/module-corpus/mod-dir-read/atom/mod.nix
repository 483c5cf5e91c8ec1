{
  Text = builtins.readFile "${mod}/data.txt";
  Logo = builtins.readFile "${mod}/assets/logo.txt";
  Exists = builtins.pathExists "${mod}/data.txt";
  Missing = builtins.pathExists "${mod}/nope.txt";
}
