if false then ./. else 1
