{ Fine = 1; }
