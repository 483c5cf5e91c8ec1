{
  Label = cfg.package.label;
  Version = cfg.package.version;
  Desc = cfg.package.description;
  Tags = cfg.package.tags;
}
