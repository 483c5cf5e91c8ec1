"file"
