{
  Probe = {
    ab = mod ? a || mod ? "a.b";
    notes = mod ? notes || mod ? "Notes";
    plain = mod ? plain;
    two = mod ? two || mod ? "two.dots";
    upper = mod ? upper;
  };
  Hidden = mod ? ".Hidden" || mod ? ".hidden";
}
