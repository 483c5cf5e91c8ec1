{ FromKey = throw "key evaluated"; }
