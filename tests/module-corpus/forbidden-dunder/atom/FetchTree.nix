if false then __fetchTree else "reachable"
