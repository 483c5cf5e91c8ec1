"real"
