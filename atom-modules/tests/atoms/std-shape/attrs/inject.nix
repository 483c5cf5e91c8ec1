std.foldl' (acc: x: acc // mod.only x)
