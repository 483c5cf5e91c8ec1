if false then fetchTarball else "reachable"
