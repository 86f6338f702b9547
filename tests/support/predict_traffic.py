"""Traffic for the model repository's routes: every predictor of the main app in turn, so
multiplexed models are loaded and evicted (their dashboard panels get data)."""

from __future__ import annotations

import httpx

from tests.support.live_cluster import LiveCluster

PREDICTORS = ["iris-classifier", "tenant-0", "tenant-1", "tenant-2", "tenant-3"]
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


async def predict_rounds(cluster: LiveCluster, rounds: int = 2) -> int:
    """Call each predictor ``rounds`` times in turn; returns the 200s."""
    ok = 0
    async with httpx.AsyncClient(
        base_url=cluster.base_url, headers=cluster.auth_headers(), timeout=60
    ) as client:
        for _ in range(rounds):
            for model in PREDICTORS:
                r = await client.post(
                    f"/v1/models/{model}/predict", json={"inputs": {"features": ROWS}}
                )
                ok += r.status_code == 200
    return ok
