{ Inside = "the submodule"; }
