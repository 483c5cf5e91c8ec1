mod.deepUntil (path: l: r: !(std.isAttrs l && std.isAttrs r))
