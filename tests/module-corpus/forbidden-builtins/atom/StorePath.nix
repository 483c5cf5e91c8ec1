if false then builtins.storePath else "reachable"
