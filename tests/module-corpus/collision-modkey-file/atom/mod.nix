{ Gadget = 1; }
