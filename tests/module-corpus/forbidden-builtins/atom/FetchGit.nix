if false then builtins.fetchGit else "reachable"
