set: if set._if or true then std.removeAttrs set [ "_if" ] else set._else or { }
