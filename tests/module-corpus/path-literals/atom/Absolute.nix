if false then /etc/hostname else 1
