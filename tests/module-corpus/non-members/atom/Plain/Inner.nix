throw "Plain has no mod.nix"
