{ Wrong = "the atom directory is not the root"; }
