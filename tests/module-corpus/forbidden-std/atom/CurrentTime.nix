if false then std.currentTime else "reachable"
