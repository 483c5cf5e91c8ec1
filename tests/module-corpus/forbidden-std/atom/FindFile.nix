if false then std.findFile else "reachable"
