[
  (std.set.when { _if = true; a = 1; })
  (std.set.when { _if = false; a = 1; _else.b = 2; })
  (std.set.when { _if = false; a = 1; })
]
