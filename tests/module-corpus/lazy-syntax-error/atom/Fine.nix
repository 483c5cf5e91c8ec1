"fine"
