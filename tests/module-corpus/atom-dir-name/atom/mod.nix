# A public name equal to the atom directory's name (the corpus runner puts
# this atom in `atoms/atom-dir-name/`).
{
  "Atom-dir-name" = 1;
  Other = 2;
  Sees = {
    self = atom ? "atom-dir-name";
    other = atom ? other;
  };
}
