if false then builtins.fetchTarball else "reachable"
