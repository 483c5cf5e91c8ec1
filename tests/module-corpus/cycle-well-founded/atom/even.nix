n: if n == 0 then true else mod.odd (n - 1)
