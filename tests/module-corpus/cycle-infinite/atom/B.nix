mod.a
