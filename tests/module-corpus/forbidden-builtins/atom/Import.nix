if false then builtins.import else "reachable"
