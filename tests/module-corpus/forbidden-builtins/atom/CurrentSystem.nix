if false then builtins.currentSystem else "reachable"
