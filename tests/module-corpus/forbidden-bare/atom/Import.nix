if false then import else "reachable"
