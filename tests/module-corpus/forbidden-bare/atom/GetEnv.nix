if false then getEnv else "reachable"
