{ Grand = builtins.attrNames pre.pre; PrePre = pre.pre.pre; }
