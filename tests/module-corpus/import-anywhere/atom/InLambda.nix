x: if x then import "${mod}/v.txt" else x
