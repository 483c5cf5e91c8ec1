{ foo = 7; }
