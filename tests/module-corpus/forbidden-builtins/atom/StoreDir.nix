if false then builtins.storeDir else "reachable"
