if false then __currentSystem else "reachable"
