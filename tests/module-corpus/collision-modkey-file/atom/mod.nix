{ Gadget = 1; Seen = mod.gadget; }
