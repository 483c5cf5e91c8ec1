if false then std.path else "reachable"
