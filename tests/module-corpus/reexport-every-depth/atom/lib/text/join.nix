sep: std.concatStringsSep sep [ pre.version "x" ]
