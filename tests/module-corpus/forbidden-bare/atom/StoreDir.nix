if false then storeDir else "reachable"
