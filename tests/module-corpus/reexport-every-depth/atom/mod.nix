# The idiom of atom code: a capitalised key re-exporting the private member
# of the same name, here at every depth, for submodules and for files.
{
  Lib = mod.lib;
  Tool = mod.tool;
  secret = "root secret";
}
