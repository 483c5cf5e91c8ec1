{ Split = mod.split; }
