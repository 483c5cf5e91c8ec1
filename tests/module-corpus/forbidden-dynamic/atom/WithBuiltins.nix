with builtins; getEnv "HOME"
