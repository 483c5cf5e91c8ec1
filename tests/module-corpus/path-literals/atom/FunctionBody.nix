# The shape of atom-nix's std.path.make: a path literal in a function body
# that is never called.
{ make = abs: frag: /. + abs + "/${frag}"; label = "bound"; }.label
