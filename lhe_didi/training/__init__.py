"""Training loops (conditional flow matching)."""
