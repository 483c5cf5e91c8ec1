if false then filterSource else "reachable"
