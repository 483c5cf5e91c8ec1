std.list.sublist 1 2 [ 1 2 3 4 ]
