"""Unit tests of deployments/models/."""
