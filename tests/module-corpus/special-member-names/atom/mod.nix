# Members named like the scope: `mod` leaves out a member named `mod` (so
# `mod.mod` is `Mod`) and its `outPath` is the module's directory; `atom`
# leaves out `atom`; `pre` below the root module holds every member.
{
  Mod = "the key Mod";
  Pre = "the root's key Pre";
  Atom = "the key Atom";
  Probe = {
    modMod = mod.mod;
    modHasAtom = mod ? atom;
    atomHasAtom = atom ? atom;
    atomHasMod = atom ? mod;
    outPathIsDir = mod.outPath == "${mod}";
  };
  Sub = mod.sub;
}
