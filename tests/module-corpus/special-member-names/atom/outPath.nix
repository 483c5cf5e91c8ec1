"the private file outPath.nix"
