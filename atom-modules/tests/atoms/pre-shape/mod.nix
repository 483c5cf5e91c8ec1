# `pre` is the parent with its private members, `pre.pre` the grandparent;
# a submodule re-exported at every depth under the same name.
{
  secret = 6 * 7;
  Inner = mod.inner;
}
