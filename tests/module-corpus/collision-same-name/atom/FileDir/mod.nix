{ X = throw "never read"; }
