(derivation { name = "x"; builder = "b"; system = "s"; }).name
