if false then __fetchTarball else "reachable"
