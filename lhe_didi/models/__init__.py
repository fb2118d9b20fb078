"""Neural networks and their on-disk model-directory format."""
