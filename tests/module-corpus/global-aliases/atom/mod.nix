{
  Values = {
    map = map (x: x * 2) [ 1 2 ];
    str = toString 5;
    base = baseNameOf "a/b/c.txt";
    dir = dirOf "a/b/c.txt";
    isNull = isNull null;
    remove = removeAttrs { a = 1; b = 2; } [ "a" ];
    toml = fromTOML "x = 1";
    caught = (builtins.tryEval (throw "no")).success;
    consts = [ true false null ];
  };
}
