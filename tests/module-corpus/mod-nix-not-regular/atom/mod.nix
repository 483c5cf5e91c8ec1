{ HasOdd = mod ? odd; }
