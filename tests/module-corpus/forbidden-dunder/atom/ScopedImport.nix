if false then __scopedImport else "reachable"
