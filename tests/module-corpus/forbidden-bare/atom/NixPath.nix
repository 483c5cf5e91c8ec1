if false then nixPath else "reachable"
