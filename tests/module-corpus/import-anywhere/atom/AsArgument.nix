map import [ ]
