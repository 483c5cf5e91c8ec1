if false then scopedImport else "reachable"
