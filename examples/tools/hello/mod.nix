{
  # Public: built from the two atoms this one depends on, found in this
  # repository (the set `local` is "::").
  Message = mod.shout "${deps.from.local.greeting.english}, ${mod.audience}";
  # Private: visible to this module and its submodules only.
  audience = "atoms";
  shout = deps.from.local.text-util.shout;
}
