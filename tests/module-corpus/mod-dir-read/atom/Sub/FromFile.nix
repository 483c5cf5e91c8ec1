builtins.readFile "${mod}/info.json"
