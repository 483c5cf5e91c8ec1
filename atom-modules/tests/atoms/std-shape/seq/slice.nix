start: count: list:
let len = std.length list; in
std.genList (i: std.elemAt list (i + start))
  (if start >= len then 0 else if start + count > len then len - start else count)
