scopedImport { } "${mod}/value.txt"
