if false then builtins.getFlake else "reachable"
