if false then fetchGit else "reachable"
