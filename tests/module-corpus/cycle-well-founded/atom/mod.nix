{
  Parity = [ (mod.even 10) (mod.odd 7) (mod.even 3) ];
  Base = 1;
  Total = atom.sub.v + mod.base;
}
