{
  Answer = 42;
  secret = "s";
  Shout = mod.secret + "!";
}
