{ X = if false then import "${mod}/v.txt" else 1; }
