{
  Deep = atom.name + "!";
  SeesSecret = atom ? secret;
  Sibling = atom.a.b.leaf;
}
