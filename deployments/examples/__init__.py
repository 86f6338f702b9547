"""Example models for the model repository, built by scripts (never committed)."""
