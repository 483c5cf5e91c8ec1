if false then <nixpkgs> else 1
