{ Indexed = mod.indexed; Slice = mod.slice; }
