# Every shape of two names that export the same name: a capitalised
# one (public) and a lowercase one (private), each a key, a file or a
# submodule directory.
{
  KeyKey = "public key";
  keyKey = "private key";
  KeyFile = "public key";
  KeyDir = "public key";
  fileKey = "private key";
  dirKey = "private key";
  Private = { inherit (mod) keyKey keyFile keyDir fileKey fileFile fileDir dirKey dirFile dirDir; };
  View = mod.view;
}
