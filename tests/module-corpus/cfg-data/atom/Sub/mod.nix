{ Same = cfg.package.label; }
