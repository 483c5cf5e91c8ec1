if false then builtins.filterSource else "reachable"
