{
  Text = mod.text;
  Version = mod.version;
  Copy = pre.secret;
}
