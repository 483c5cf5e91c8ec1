builtins.getAttr "currentTime" builtins
