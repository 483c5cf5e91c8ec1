{ depth = 3; fromAtom = atom.tool.name; fromGrandparent = pre.pre.version; joined = pre.join "-"; }
