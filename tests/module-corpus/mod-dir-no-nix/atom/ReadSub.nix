builtins.readFile "${mod}/Sub/data.txt"
