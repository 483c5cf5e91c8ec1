if false then __getEnv else "reachable"
