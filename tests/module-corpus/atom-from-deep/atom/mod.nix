{
  Name = "top";
  secret = "hidden";
  Again = atom.name;
}
