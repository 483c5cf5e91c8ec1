{ Dir = "${mod}"; Sub = mod.sub; Same = mod.outPath == "${mod}"; }
