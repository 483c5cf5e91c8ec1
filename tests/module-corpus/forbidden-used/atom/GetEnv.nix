__getEnv "HOME"
