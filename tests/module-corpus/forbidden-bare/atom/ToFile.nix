if false then toFile else "reachable"
