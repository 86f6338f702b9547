"""A Ray driver for tests that must touch actors: kill a Serve replica and time its
replacement. Prints one JSON object.

Run in a subprocess with the cluster's environment (LiveCluster.probe), so the test
process itself never joins a Ray cluster: `ray.init` honours RAY_AUTH_MODE=token and the
token file like the `serve` CLI does.

usage: python -m tests.support.cluster_probe kill|freeze ADDRESS APP DEPLOYMENT [TIMEOUT_S]
  kill    ray.kill one replica (a crash)
  freeze  SIGSTOP one replica's process (a hang): only its failing health check can
          tell Serve, which must replace it
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import time

import ray
from ray import serve
from ray.util.state import list_actors


def replica_names(app: str, deployment: str) -> set[str]:
    # Serve names replica actors SERVE_REPLICA::APP#DEPLOYMENT#ID in the "serve" namespace.
    prefix = f"SERVE_REPLICA::{app}#{deployment}#"
    return {
        a["name"]
        for a in ray.util.list_named_actors(all_namespaces=True)
        if a["namespace"] == "serve" and a["name"].startswith(prefix)
    }


def running(app: str, deployment: str) -> int:
    status = serve.status().applications[app].deployments[deployment]
    return sum(n for state, n in status.replica_states.items() if state == "RUNNING")


def replica_pid(name: str) -> int:
    # This cluster's dashboard, named: without an address the state API looks for any
    # Ray instance on the machine and refuses to choose when other clusters run beside it.
    (actor,) = list_actors(
        address=os.environ.get("RAY_DASHBOARD_ADDRESS"),
        filters=[("name", "=", name), ("state", "=", "ALIVE")],
    )
    assert actor.pid is not None, f"{name} has no process yet"
    return actor.pid


def kill(app: str, deployment: str, timeout_s: float, *, freeze: bool = False) -> dict[str, object]:
    """Kill (or freeze) one replica; seconds until Serve runs a replacement and the count
    is whole."""
    before = replica_names(app, deployment)
    want = running(app, deployment)
    victim = sorted(before)[0]
    pid = replica_pid(victim) if freeze else None
    killed_at = time.monotonic()
    if pid is not None:
        # The replica's node is this machine: the process is ours to stop.
        os.kill(pid, signal.SIGSTOP)
    else:
        ray.kill(ray.get_actor(victim, namespace="serve"), no_restart=True)
    recovered_s = None
    while time.monotonic() - killed_at < timeout_s:
        new = replica_names(app, deployment) - before
        if (
            new
            and victim not in replica_names(app, deployment)
            and running(app, deployment) >= want
        ):
            recovered_s = time.monotonic() - killed_at
            break
        time.sleep(0.2)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # Serve has given up on it; don't leave it frozen
    return {"killed": victim, "replicas": want, "recovered_s": recovered_s}


def main() -> None:
    command, address, app, deployment = sys.argv[1:5]
    timeout_s = float(sys.argv[5]) if len(sys.argv) > 5 else 30.0
    ray.init(address=address, namespace="serve", logging_level=logging.ERROR, log_to_driver=False)
    if command in ("kill", "freeze"):
        result = kill(app, deployment, timeout_s, freeze=command == "freeze")
    else:
        raise SystemExit(f"unknown command {command}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
