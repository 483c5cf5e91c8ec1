if false then std.currentSystem else "reachable"
