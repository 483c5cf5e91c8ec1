if false then builtins.scopedImport else "reachable"
