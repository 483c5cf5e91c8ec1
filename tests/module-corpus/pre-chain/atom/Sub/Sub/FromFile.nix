pre.bar * 2
