if false then std.nixPath else "reachable"
