sep: parts: builtins.concatStringsSep sep parts
