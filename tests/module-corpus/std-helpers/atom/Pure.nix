[
  (std.length [ 1 2 ])
  (std.attrNames { b = 1; a = 2; })
  (std.toJSON { x = 1; })
  (std.isString std.langVersion || std.isInt std.langVersion)
]
