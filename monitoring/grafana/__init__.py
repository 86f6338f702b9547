"""Grafana dashboards as code, their provisioning, and an uploader."""
