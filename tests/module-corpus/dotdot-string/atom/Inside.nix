builtins.readFile "${mod}/assets/../data.txt"
