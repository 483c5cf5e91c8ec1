let inherit (builtins) import; in "ok"
