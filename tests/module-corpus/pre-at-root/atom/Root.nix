pre.x
