"""Checks on the Server-Timing header the app sends with every model answer."""

from __future__ import annotations

from collections.abc import Mapping

from benchmarks.workload import parse_server_timing


def assert_consistent_server_timing(headers: Mapping[str, str]) -> dict[str, float]:
    stages = parse_server_timing(headers["server-timing"])
    # Embeddings also stamp their wait for a call slot (deployments/ingress/call_coalescer.py).
    assert {"app", "call", "replica", "queue", "forward"} <= set(stages), stages
    assert set(stages) <= {"app", "call", "slot", "replica", "queue", "forward"}, stages
    # Each span holds the next: the ingress awaits the call, which holds the wait for a
    # slot and then the replica's work, which holds the batch wait and the forward pass
    # (0.02 per term: rounding to 0.01 ms).
    slot = stages.get("slot", 0.0)
    assert stages["app"] + 0.02 >= stages["call"] >= slot + stages["replica"] - 0.04, stages
    assert stages["replica"] + 0.02 >= stages["queue"] + stages["forward"], stages
    assert stages["forward"] > 0, stages
    return stages
