if false then std.filterSource else "reachable"
