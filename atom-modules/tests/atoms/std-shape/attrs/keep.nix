f: set:
std.foldl' (acc: k:
  let v = f k set.${k}; in
  if v == null then acc else if std.isAttrs v then acc // v else acc // { ${k} = v; })
  { } (std.attrNames set)
