std.set.filterMap (k: v: if v > 1 then { ${k + "2"} = v; } else null) { x = 1; y = 2; }
