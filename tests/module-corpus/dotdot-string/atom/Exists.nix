builtins.pathExists "${mod}/assets/../data.txt"
