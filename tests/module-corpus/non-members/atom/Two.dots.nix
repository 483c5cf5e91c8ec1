throw "Two.dots.nix is not a member"
