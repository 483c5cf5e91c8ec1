builtins.readFile "${mod}/../outside.txt"
