{
  SeesPriv = mod.sub ? priv;
  SeesPub = mod.sub.pub;
}
