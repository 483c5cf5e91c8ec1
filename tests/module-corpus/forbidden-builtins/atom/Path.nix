if false then builtins.path else "reachable"
