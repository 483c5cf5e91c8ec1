if false then builtins.getEnv else "reachable"
