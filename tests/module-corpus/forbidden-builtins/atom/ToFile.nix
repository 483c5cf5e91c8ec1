if false then builtins.toFile else "reachable"
