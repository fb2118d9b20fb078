"""Leading-order reference generator for pp -> b l+ nu b~ l- nu~ (on-shell hvq-like and full off-shell bb4l-like)."""
