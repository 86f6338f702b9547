"""Unit tests of benchmarks/."""
