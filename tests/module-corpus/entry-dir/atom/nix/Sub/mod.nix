{ Up = pre.hello; }
