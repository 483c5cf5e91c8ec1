n: if n == 0 then false else mod.even (n - 1)
