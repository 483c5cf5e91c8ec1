{ Client = throw "client down"; Port = 80; }
