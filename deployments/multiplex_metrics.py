"""Load and unload counts of multiplexed models, by model.

Ray's own multiplex metrics (ray_serve_multiplexed_models_load_counter and friends) count
per replica without saying which model; these add the ``model`` label (a served model id
from the repository, so bounded), which is what an operator needs to see thrashing.
"""

from __future__ import annotations

from ray.serve.metrics import Counter, Histogram

from deployments.metrics import LATENCY_BUCKETS_S, _keys


class MultiplexMetrics:
    def __init__(self) -> None:
        keys = _keys("model")
        self.loads = Counter(
            "multiplexed_model_loads",
            description="Models loaded into a replica's multiplex cache.",
            tag_keys=keys,
        )
        self.unloads = Counter(
            "multiplexed_model_unloads",
            description="Models evicted from a replica's multiplex cache (LRU).",
            tag_keys=keys,
        )
        self.load_seconds = Histogram(
            "multiplexed_model_load_seconds",
            description="Time to load a model into a replica.",
            boundaries=LATENCY_BUCKETS_S,
            tag_keys=keys,
        )

    def record_load(self, model: str, seconds: float) -> None:
        self.loads.inc(tags={"model": model})
        self.load_seconds.observe(seconds, tags={"model": model})

    def record_unload(self, model: str) -> None:
        self.unloads.inc(tags={"model": model})
