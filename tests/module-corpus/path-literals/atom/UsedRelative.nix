builtins.readFile ./data.txt
