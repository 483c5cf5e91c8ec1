"${./data.txt}"
