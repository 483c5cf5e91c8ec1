# The shape of atom-nix's std: every public name re-exports a private
# member of the same name (a file or a submodule directory).
{
  Fix = mod.fix;
  Name = mod.name;
  Seq = mod.seq;
  Attrs = mod.attrs;
  Text = mod.text;
  # The file builtins, which eka binds to the module's directory: shown
  # as the builtins themselves.
  Files = { read = builtins.readFile; exists = std.pathExists; hash = builtins.hashFile "sha256"; };
  # Using the library from inside, through `mod` and through `atom`.
  Uses = {
    split = [ (mod.name.split "lib.tar.gz") (atom.name.split "README") ];
    fixed = mod.fix (self: { a = 1; b = self.a + 1; });
    keep = atom.attrs.keep (k: v: if v > 1 then { ${k} = v * 10; } else null) { x = 1; y = 2; };
    inject = mod.attrs.inject { a = 1; } [ { _if = false; b = 2; } { c = 3; } ];
    deep = mod.attrs.deep { a.b = 1; a.c = 2; } { a.c = 3; d = 4; };
    seq = [ (mod.seq.indexed (i: x: i * x) [ 5 6 7 ]) (mod.seq.slice 1 2 [ 1 2 3 4 ]) ];
    text = [ (atom.text.lower "MiXeD") (mod.text.lowerFirst "Capital") ];
  };
}
