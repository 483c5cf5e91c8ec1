"good"
