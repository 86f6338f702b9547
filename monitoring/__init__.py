"""Monitoring for the inference cluster: Prometheus config and rules, Grafana dashboards."""
