"a hidden member"
