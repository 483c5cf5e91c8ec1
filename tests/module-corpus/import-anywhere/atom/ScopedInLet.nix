let f = scopedImport; in 1
