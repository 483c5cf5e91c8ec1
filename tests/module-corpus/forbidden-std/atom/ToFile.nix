if false then std.toFile else "reachable"
