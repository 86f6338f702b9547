"""Benchmark harness: load generator, raw-model ceiling, naive baseline app (issue 6)."""
