[
  (std.file.parse "foo.bar")
  (std.file.parse "archive.tar.gz")
  (std.file.parse "noext")
]
