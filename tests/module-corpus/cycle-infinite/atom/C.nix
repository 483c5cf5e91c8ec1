atom.c
