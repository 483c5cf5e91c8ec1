if false then ~/x.txt else 1
