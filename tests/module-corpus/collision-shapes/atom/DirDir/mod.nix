{ Is = "public dir"; }
