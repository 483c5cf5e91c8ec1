if false then std.fetchTarball else "reachable"
