if false then getFlake else "reachable"
