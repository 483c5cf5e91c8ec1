"private file"
