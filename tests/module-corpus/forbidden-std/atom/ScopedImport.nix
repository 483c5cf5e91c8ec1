if false then std.scopedImport else "reachable"
