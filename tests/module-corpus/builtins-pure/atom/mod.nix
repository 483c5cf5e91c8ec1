{
  HasFix = builtins ? fix;
  HasLength = builtins ? length;
  Joined = builtins.concatStringsSep "," (builtins.map toString [ 1 2 ]);
  Hash = builtins.hashString "sha256" "";
}
