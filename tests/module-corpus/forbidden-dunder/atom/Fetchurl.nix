if false then __fetchurl else "reachable"
