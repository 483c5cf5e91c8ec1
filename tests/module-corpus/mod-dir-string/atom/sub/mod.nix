{ Dir = "${mod}"; }
