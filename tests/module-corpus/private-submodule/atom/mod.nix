{ Via = mod.inner.x; }
