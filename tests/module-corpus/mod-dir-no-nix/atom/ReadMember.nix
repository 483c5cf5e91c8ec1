builtins.readFile "${mod}/helper.nix"
