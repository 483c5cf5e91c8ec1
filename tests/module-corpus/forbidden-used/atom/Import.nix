import "${mod}/value.txt"
