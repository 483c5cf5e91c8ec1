{
  Shout = s: "${s}!";
  # `join.nix` beside this file is the private member `mod.join`.
  Words = mod.join " ";
}
