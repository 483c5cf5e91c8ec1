if false then __fetchGit else "reachable"
