"""Alertmanager: its config renderer and the default webhook receiver (config beside them)."""
