if false then std.storePath else "reachable"
