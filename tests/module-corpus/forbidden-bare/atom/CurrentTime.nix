if false then currentTime else "reachable"
