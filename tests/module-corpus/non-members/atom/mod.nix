{
  Probe = {
    ab = mod ? a || mod ? "a.b";
    notes = mod ? notes || mod ? "Notes";
    plain = mod ? plain;
    two = mod ? two || mod ? "two.dots";
    upper = mod ? upper;
  };
  # `.Hidden.nix` is a member named `.Hidden`: private (its first character
  # is not a capital letter), reachable through `mod`.
  Hidden = mod.".Hidden";
}
