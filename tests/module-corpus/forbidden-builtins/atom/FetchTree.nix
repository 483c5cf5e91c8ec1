if false then builtins.fetchTree else "reachable"
