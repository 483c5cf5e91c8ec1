throw "never read"
