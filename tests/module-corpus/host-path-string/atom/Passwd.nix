builtins.readFile "/etc/passwd"
