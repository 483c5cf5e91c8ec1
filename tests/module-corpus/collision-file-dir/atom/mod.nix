{ Seen = mod.thing; }
