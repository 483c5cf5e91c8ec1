if false then derivation else "reachable"
