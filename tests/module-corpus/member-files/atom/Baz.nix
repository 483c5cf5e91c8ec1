mod.bar.n * 10
