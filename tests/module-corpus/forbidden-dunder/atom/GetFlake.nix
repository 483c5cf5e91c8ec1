if false then __getFlake else "reachable"
