atom.secret
