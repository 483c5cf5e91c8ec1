if false then path else "reachable"
