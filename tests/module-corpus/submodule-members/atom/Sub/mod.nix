{ Local = mod.helper * 2; }
