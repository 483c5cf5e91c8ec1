if false then std.getFlake else "reachable"
