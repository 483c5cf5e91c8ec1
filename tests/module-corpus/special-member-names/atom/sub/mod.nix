{
  PrePre = pre.pre;
  PreMod = pre.mod;
  PreOutPath = pre.outPath;
  Deeper = mod.deeper;
}
