"leaf"
