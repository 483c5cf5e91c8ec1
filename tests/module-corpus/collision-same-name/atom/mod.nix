# One raw name defined twice or three times: a key of mod.nix wins over a
# file, which wins over a submodule directory; the losers are never read.
# Public names (eka warns about them) and private ones alike.
{
  KeyFile = "key";
  KeyDir = "key";
  All = "key";
  keyFile = "private key";
  keyDir = "private key";
  all = "private key";
  Private = { inherit (mod) keyFile keyDir fileDir all; };
}
