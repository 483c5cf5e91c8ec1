{
  ABC = 1;
  X_y = 2;
  "Élan" = 3;
  _under = 4;
  Probe = [
    (mod ? aBC)
    (mod ? ABC)
    (mod ? abc)
    (mod ? "Élan")
    (mod ? _under)
    (mod ? "9lives")
    (mod ? hTTPClient)
  ];
}
