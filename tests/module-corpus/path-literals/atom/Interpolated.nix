if false then ./${"data"}.txt else 1
