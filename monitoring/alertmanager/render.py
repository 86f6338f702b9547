"""Render monitoring/alertmanager/alertmanager.yml for the Alertmanager of one local cluster.

Run as a script by cluster/local/alertmanager.sh (it needs nothing but PyYAML), imported by
the tests. The committed file stays the single source: this only points the local webhook
receivers at the receiver's real port and, for tests only, shortens the grouping timers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "alertmanager.yml"
# The committed config's local receiver (receiver.py's default port).
LOCAL_WEBHOOK = "http://127.0.0.1:9095/alerts"
TIMERS = ("group_wait", "group_interval", "repeat_interval")


def _routes(route: dict[str, Any]) -> list[dict[str, Any]]:
    return [route, *(r for child in route.get("routes", []) for r in _routes(child))]


def render(*, receiver_port: int = 9095, timers: dict[str, str] | None = None) -> dict[str, Any]:
    """The config with the local webhook on `receiver_port`; `timers` (group_wait, ...)
    replace those of every route that sets them, and the root's."""
    config: dict[str, Any] = yaml.safe_load(TEMPLATE.read_text())
    url = f"http://127.0.0.1:{receiver_port}/alerts"
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            if hook["url"] == LOCAL_WEBHOOK:
                hook["url"] = url
    for name, value in (timers or {}).items():
        if name not in TIMERS:
            raise ValueError(f"unknown timer {name!r}; expected one of {TIMERS}")
        for route in _routes(config["route"]):
            if route is config["route"] or name in route:
                route[name] = value
    return config


def dump(config: dict[str, Any]) -> str:
    header = f"# Generated from {TEMPLATE} by {Path(__file__).name}; edit that file instead.\n"
    return header + yaml.safe_dump(config, sort_keys=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--receiver-port", type=int, default=9095)
    for timer in TIMERS:
        flag = "--" + timer.replace("_", "-")
        parser.add_argument(flag, dest=timer, help=f"override every route's {timer} (tests)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    timers = {t: getattr(args, t) for t in TIMERS if getattr(args, t)}
    config = render(receiver_port=args.receiver_port, timers=timers)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dump(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
