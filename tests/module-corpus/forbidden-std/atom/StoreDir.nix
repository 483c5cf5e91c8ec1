if false then std.storeDir else "reachable"
