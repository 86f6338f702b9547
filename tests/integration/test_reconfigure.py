"""`serve deploy` of a changed user_config reconfigures the live model in place."""

from __future__ import annotations

import asyncio
import copy
import time

import httpx

from tests.support.live_cluster import MODEL, LiveCluster


def batching(client: httpx.Client) -> dict[str, float]:
    card = client.get(f"/v1/models/{MODEL}").json()
    result: dict[str, float] = card["batching"]
    return result


def test_live_reconfigure_changes_batch_size(cluster: LiveCluster, client: httpx.Client) -> None:
    original = copy.deepcopy(cluster.config)
    changed = copy.deepcopy(original)
    model = next(d for d in changed["applications"][0]["deployments"] if d["name"] == MODEL)
    model["user_config"] = {"max_batch_size": 3, "batch_wait_timeout_s": 0.05}
    try:
        cluster.deploy(changed)
        deadline = time.monotonic() + 60
        while batching(client)["max_batch_size"] != 3:
            assert time.monotonic() < deadline, "reconfigure did not take effect"
            time.sleep(0.5)
        assert batching(client)["batch_wait_timeout_s"] == 0.05

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(
                base_url=cluster.base_url, headers=cluster.auth_headers(), timeout=60
            ) as c:
                return await asyncio.gather(
                    *(
                        c.post("/v1/embeddings", json={"input": f"t{i}", "model": MODEL})
                        for i in range(12)
                    )
                )

        sizes = [int(r.headers["x-batch-size"]) for r in asyncio.run(burst())]
        print(f"batch sizes after reconfigure to max 3: {sorted(sizes)}")
        assert max(sizes) == 3
        big = client.post("/v1/embeddings", json={"input": ["a"] * 10, "model": MODEL})
        assert big.status_code == 200 and len(big.json()["data"]) == 10
        assert int(big.headers["x-batch-size"]) <= 3
    finally:
        cluster.deploy(original)
        deadline = time.monotonic() + 60
        while batching(client)["max_batch_size"] != 32:
            assert time.monotonic() < deadline
            time.sleep(0.5)
