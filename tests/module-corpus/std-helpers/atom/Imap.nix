std.list.imap (i: v: "${v}${toString i}") [ "a" "b" ]
