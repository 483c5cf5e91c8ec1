if false then __toFile else "reachable"
