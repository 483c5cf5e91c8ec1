if false then __nixPath else "reachable"
