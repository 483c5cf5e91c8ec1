# private: used by deep.nix only, never exported
pred: lhs: rhs:
let
  go = path: l: r: std.zipAttrsWith (n: vs:
    let here = path ++ [ n ]; in
    if std.length vs == 1 || pred here (std.elemAt vs 1) (std.head vs)
    then std.head vs
    else go here (std.elemAt vs 1) (std.head vs)) [ r l ];
in
go [ ] lhs rhs
