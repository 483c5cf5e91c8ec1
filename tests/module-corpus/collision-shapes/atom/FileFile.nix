"public file"
