mod.b
