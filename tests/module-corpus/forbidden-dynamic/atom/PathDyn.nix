builtins.${"pa" + "th"}
