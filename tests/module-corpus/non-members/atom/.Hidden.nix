throw ".Hidden.nix is not a member"
