f: let x = f x; in x
