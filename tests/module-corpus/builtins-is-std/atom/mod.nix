{
  HasFix = builtins ? fix;
  IsStd = builtins == std;
  HasLength = builtins ? length;
  Joined = builtins.concatStringsSep "," (builtins.map toString [ 1 2 ]);
  Hash = builtins.hashString "sha256" "";
}
