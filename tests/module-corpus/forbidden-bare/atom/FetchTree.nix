if false then fetchTree else "reachable"
