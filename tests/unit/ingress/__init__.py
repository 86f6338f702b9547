"""Unit tests of deployments/ingress/."""
