builtins.storeDir
