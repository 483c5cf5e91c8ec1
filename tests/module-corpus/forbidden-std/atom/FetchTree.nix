if false then std.fetchTree else "reachable"
