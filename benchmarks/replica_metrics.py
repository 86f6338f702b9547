"""Replica counts from Ray's Prometheus endpoint, so a sweep shows which of its steps ran
on an autoscaled count."""

from __future__ import annotations


def healthy_replicas(metrics_url: str, deployment: str) -> int | None:
    """Replicas of ``deployment`` that Ray's Prometheus endpoint reports healthy now: tells
    which steps of a sweep ran on an autoscaled count. None when the endpoint cannot be
    read or has no series of the deployment yet (Ray exports some seconds after a deploy)."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(metrics_url, timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    series = [
        s
        for family in text_string_to_metric_families(text)
        if family.name == "ray_serve_deployment_replica_healthy"
        for s in family.samples
        if s.labels.get("deployment") == deployment
    ]
    if not series:
        return None
    return len({s.labels.get("replica") for s in series if s.value == 1})
