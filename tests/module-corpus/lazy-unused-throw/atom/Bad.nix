throw "boom from Bad"
