../x.txt
