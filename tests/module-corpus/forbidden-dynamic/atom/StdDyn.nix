std.${"getEnv"} "HOME"
