{ name = "tool"; uses = atom.lib.version; }
