mod.sub.hidden
