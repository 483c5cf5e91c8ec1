atom.base + 1
