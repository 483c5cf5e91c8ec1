if false then std.import else "reachable"
