# The helpers `std` adds to the pure builtins: what atom-nix's std offers
# and atoms use. Evaluated once per evaluation with `b` = the builtins.
let
  fix = f: let x = f x; in x;

  when = set: if set._if or true then b.removeAttrs set [ "_if" ] else set._else or { };

  # `f name value` returns null (drop), a set (merged in), or a value (kept
  # under the same name); later results win, as with `//`.
  filterMap = f: set:
    let
      pairs = b.concatMap (name:
        let v = f name set.${name}; in
        if v == null then [ ]
        else if b.isAttrs v then map (n: { name = n; value = v.${n}; }) (b.attrNames v)
        else [ { inherit name; value = v; } ]) (b.attrNames set);
      n = b.length pairs;
    in
    b.listToAttrs (b.genList (i: b.elemAt pairs (n - 1 - i)) n);

  inject = b.foldl' (acc: x: acc // when x);

  mergeUntil = pred: lhs: rhs:
    let
      go = path: l: r: b.zipAttrsWith (name: vs:
        let here = path ++ [ name ]; in
        if b.length vs == 1 || pred here (b.elemAt vs 1) (b.head vs)
        then b.head vs
        else go here (b.elemAt vs 1) (b.head vs)) [ r l ];
    in
    go [ ] lhs rhs;

  merge = mergeUntil (path: l: r: !(b.isAttrs l && b.isAttrs r));

  imap = f: list: b.genList (i: f i (b.elemAt list i)) (b.length list);

  sublist = start: count: list:
    let len = b.length list; in
    b.genList (i: b.elemAt list (i + start))
      (if start >= len then 0 else if start + count > len then len - start else count);

  chars = s: b.genList (i: b.substring i 1 s) (b.stringLength s);
  toLower = b.replaceStrings (chars "ABCDEFGHIJKLMNOPQRSTUVWXYZ") (chars "abcdefghijklmnopqrstuvwxyz");
  toLowerCase = s: toLower (b.substring 0 1 s) + b.substring 1 (-1) s;

  parse = file:
    let m = b.match "(\\.*[^.]+)\\.?(.+)?" (baseNameOf file); in
    if m == null then throw "std.file.parse: '${toString file}' is not a file name"
    else if b.elemAt m 1 == null then { name = b.head m; }
    else { name = b.head m; ext = b.elemAt m 1; };
in
{
  inherit fix;
  set = { inherit when filterMap inject merge; };
  list = { inherit imap sublist; };
  string = { inherit toLower toLowerCase; };
  file = { inherit parse; };
}
