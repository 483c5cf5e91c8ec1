{ IsSet = builtins.isAttrs deps; }
