if false then builtins.fetchurl else "reachable"
