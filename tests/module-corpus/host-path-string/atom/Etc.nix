builtins.readDir "/etc"
