{
  Shout = s: "${s}!";
}
