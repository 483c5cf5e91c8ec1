std.string.toLower "Hello World"
