if false then std.getEnv else "reachable"
