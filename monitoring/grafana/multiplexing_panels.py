"""Panels of the model repository's multiplexed deployments: which models are loaded,
evicted and reloaded, and what a load costs.

Our counters (deployments/metrics.py) say which model; Ray's own gauge says
how many models each replica holds.
"""

from __future__ import annotations

from monitoring.grafana.dashboard_spec import Panel, Row, Target
from monitoring.grafana.panels import REPLICA_APP, SERVE, quantiles
from monitoring.grafana.promql import agg, rate_sum

MULTIPLEXING = Row(
    "Multiplexed models",
    (
        Panel(
            "Multiplexed model loads and evictions per second",
            "Models loaded into, and evicted (least recently used) from, the replicas' "
            "caches. Steady evictions mean thrashing: raise max_models_per_replica or "
            "the replica count.",
            (
                Target(
                    rate_sum("ray_multiplexed_model_loads_total", "model", *REPLICA_APP),
                    "{{model}} loaded",
                ),
                Target(
                    rate_sum("ray_multiplexed_model_unloads_total", "model", *REPLICA_APP),
                    "{{model}} evicted",
                ),
            ),
            unit="ops",
        ),
        Panel(
            "Multiplexed model load time (p50 / p90 / p99)",
            "Time to load a model into a replica; requests for it wait that long.",
            quantiles("ray_multiplexed_model_load_seconds", "model", "{{model}}", *REPLICA_APP),
            unit="s",
        ),
        Panel(
            "Models loaded per replica",
            "Models each replica of a multiplexed deployment holds (Ray's gauge); at most "
            "max_models_per_replica.",
            (
                Target(
                    agg("max", "deployment, replica", "ray_serve_num_multiplexed_models", *SERVE),
                    "{{deployment}} {{replica}}",
                ),
            ),
        ),
    ),
)
