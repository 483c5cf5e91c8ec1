if false then __derivation else "reachable"
