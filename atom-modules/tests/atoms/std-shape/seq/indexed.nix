f: list: std.genList (i: f i (std.elemAt list i)) (std.length list)
