if false then __import else "reachable"
