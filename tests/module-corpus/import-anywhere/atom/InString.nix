"value: ${if false then import "${mod}/v.txt" else "ok"}"
