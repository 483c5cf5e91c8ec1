if false then fetchurl else "reachable"
