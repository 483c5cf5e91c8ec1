if false then builtins.nixPath else "reachable"
