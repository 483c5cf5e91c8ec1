[ (builtins ? import) (builtins ? getEnv) (std ? fetchGit) (builtins ? derivation) ]
