~/x.txt
