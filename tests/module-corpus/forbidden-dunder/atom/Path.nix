if false then __path else "reachable"
