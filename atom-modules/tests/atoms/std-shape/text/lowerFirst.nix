# `mod.lower` is the key `Lower` of mod.nix, lowercased in `mod`; the
# capitalised spelling is never in `mod`, so `or` falls back.
str:
"${mod.lower or mod.Lower (std.substring 0 1 str)}${std.substring 1 (-1) str}"
