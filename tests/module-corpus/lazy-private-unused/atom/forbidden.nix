import "${mod}/x.nix"
