if false then currentSystem else "reachable"
