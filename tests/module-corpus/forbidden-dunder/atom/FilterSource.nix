if false then __filterSource else "reachable"
