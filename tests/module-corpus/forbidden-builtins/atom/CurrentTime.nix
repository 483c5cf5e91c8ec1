if false then builtins.currentTime else "reachable"
