if false then std.fetchGit else "reachable"
