"""Prometheus configuration renderer (the rules and their tests are YAML beside it)."""
