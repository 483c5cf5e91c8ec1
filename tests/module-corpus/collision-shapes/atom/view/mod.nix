{ Pre = { inherit (pre) keyKey keyFile keyDir fileKey fileFile fileDir dirKey dirFile dirDir; }; }
