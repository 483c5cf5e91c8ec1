if false then __storeDir else "reachable"
