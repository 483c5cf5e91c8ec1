throw "never"
