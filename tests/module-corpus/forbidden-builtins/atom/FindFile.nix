if false then builtins.findFile else "reachable"
