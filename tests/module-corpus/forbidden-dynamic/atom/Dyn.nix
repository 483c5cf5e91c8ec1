builtins.${"imp" + "ort"}
