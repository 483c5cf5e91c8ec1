{
  Str = "quote \" dollar \${x} newline\n tab\t";
  Int = -3;
  Float = 1.5;
  List = [ 1 [ 2 ] { } [ ] ];
  Nested.a.b = "c";
  Quoted = { "with-dash" = 1; "a b" = 2; "" = 3; "1x" = 4; };
  Null = null;
  Bool = false;
}
