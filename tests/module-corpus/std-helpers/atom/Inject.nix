std.set.inject { base = 0; } [
  { _if = true; x = 1; }
  { _if = false; y = 2; }
]
