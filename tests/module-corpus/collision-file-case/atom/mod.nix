{ Seen = mod.widget; }
