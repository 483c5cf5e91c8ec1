if false then std.fetchurl else "reachable"
