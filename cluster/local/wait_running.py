"""Wait until every Serve application on the cluster is RUNNING; fail on a DEPLOY_FAILED that
lasts.

Serve reports DEPLOY_FAILED as soon as a replica dies while it starts, then starts another:
a replica killed during a rollout (tests/integration/test_rollout_faults.py) flipped its
application to DEPLOY_FAILED and the rollout still completed. So a failure counts once it
has held for --failed-grace seconds; a broken constructor fails every retry and stays.

Reads `serve status` (which honours RAY_DASHBOARD_ADDRESS and the Ray auth token).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import yaml


def app_statuses() -> dict[str, dict]:
    out = subprocess.run(["serve", "status"], capture_output=True, text=True, check=True).stdout
    return (yaml.safe_load(out) or {}).get("applications") or {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--failed-grace", type=float, default=20)
    args = parser.parse_args()
    deadline = time.monotonic() + args.timeout
    last = ""
    failed_since: dict[str, float] = {}
    while time.monotonic() < deadline:
        try:
            apps = app_statuses()
        except subprocess.CalledProcessError:
            apps = {}
        states = {name: app.get("status") for name, app in apps.items()}
        now = time.monotonic()
        failed_since = {
            n: failed_since.get(n, now) for n, s in states.items() if s == "DEPLOY_FAILED"
        }
        failed = {
            n: apps[n].get("message", "")
            for n, since in failed_since.items()
            if now - since >= args.failed_grace
        }
        if failed:
            for name, message in failed.items():
                print(f"application {name} failed to deploy:\n{message}", file=sys.stderr)
            return 1
        if states and all(s == "RUNNING" for s in states.values()):
            print("serve applications RUNNING: " + ", ".join(states))
            return 0
        summary = ", ".join(f"{n}={s}" for n, s in states.items()) or "no applications yet"
        if summary != last:
            print(f"waiting: {summary}", flush=True)
            last = summary
        time.sleep(1)
    print(f"applications not RUNNING after {args.timeout:.0f} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
