std.set.merge { a.b = 1; a.c = 2; } { a.c = 3; d = 4; }
