throw "file evaluated"
