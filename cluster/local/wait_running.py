"""Wait until every Serve application on the cluster is RUNNING; fail fast on DEPLOY_FAILED.

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
    args = parser.parse_args()
    deadline = time.monotonic() + args.timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            apps = app_statuses()
        except subprocess.CalledProcessError:
            apps = {}
        states = {name: app.get("status") for name, app in apps.items()}
        failed = {n: apps[n].get("message", "") for n, s in states.items() if s == "DEPLOY_FAILED"}
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
