std.set.mergeUntil (path: l: r: path == [ "a" ]) { a.b = 1; x = 1; } { a.c = 2; }
