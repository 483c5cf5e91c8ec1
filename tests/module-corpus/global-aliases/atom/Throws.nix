throw "thrown here"
