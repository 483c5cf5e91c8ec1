{ X = "the submodule mod/"; }
