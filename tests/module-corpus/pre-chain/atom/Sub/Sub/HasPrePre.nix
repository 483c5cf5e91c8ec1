pre ? pre
