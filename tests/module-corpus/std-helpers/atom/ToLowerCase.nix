std.string.toLowerCase "HELLO"
