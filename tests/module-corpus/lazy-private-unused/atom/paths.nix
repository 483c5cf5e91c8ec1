./x.nix
