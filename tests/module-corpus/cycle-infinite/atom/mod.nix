{ Self = mod.self; }
