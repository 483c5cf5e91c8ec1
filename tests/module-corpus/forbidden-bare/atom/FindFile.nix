if false then findFile else "reachable"
