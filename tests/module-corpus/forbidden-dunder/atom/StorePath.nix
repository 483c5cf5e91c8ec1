if false then __storePath else "reachable"
