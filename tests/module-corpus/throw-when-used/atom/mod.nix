{
  Ok = mod.check false;
  Boom = mod.check true;
}
