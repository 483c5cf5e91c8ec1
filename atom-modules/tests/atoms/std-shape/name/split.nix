# "lib.tar.gz" -> { stem = "lib"; ext = "tar.gz"; }
file:
let
  m = std.match "(\\.*[^.]+)\\.?(.+)?" (baseNameOf file);
in
if m == null then throw "not a file name: ${file}"
else if std.elemAt m 1 == null then { stem = std.head m; }
else { stem = std.head m; ext = std.elemAt m 1; }
