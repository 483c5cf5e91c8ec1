# A private key shadowing a submodule of the same name, re-exported; private
# submodules that are never exported; data read through "${mod}".
{
  One = 1;
  part = atom.one + 2;
  extra = mod.part + 4;
  Keep = std.attrNames (mod.group);
  Notes = std.readFile "${mod}/notes";
  Group = mod.group;
  Part = mod.part;
}
