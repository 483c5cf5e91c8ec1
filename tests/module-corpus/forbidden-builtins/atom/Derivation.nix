if false then builtins.derivation else "reachable"
