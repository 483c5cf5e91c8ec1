if false then __findFile else "reachable"
