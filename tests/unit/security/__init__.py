"""Unit tests of deployments/security/."""
