if false then __currentTime else "reachable"
