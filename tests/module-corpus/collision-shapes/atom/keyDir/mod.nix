{ Is = "private dir"; }
