throw "a.b.nix is not a member"
