{
  Message = "Hello, atoms";
}
