"""Unit tests of monitoring/."""
