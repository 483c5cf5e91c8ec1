if false then storePath else "reachable"
