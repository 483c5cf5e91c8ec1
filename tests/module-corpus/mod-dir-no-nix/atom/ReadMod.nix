builtins.readFile "${mod}/mod.nix"
