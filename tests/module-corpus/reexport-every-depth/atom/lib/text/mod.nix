{
  Case = mod.case;
  Join = mod.join;
}
