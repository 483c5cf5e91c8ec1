{
  upper = mod.chars "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  lower' = mod.chars "abcdefghijklmnopqrstuvwxyz";
  chars = s: std.genList (p: std.substring p 1 s) (std.stringLength s);
  Lower = std.replaceStrings mod.upper mod.lower';
  LowerFirst = mod.lowerFirst;
}
