x: if x then throw "bad input: ${builtins.toJSON x}" else "fine"
