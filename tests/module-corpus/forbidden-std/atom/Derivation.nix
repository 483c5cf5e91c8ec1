if false then std.derivation else "reachable"
