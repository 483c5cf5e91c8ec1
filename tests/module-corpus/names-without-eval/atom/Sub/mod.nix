throw "sub evaluated"
