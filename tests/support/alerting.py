"""Prometheus + Alertmanager + the default receiver for a test cluster, started with the
same scripts as `make up` (cluster/local/prometheus.sh, alertmanager.sh), on free ports,
with everything under the cluster's run dir.

Production timings would make a test wait many minutes (alerts hold for 1-10 min,
Alertmanager waits 10-30 s per group), so the test copy differs in timings only: the
alert rules are rendered into the run dir with every `for:` shortened, Prometheus scrapes
and evaluates every 2 s, and Alertmanager's grouping timers are seconds. The rules'
expressions, labels and the routing, grouping and inhibition config are the committed ones.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from monitoring.prometheus.render import RULES_DIR
from tests.support.live_cluster import LiveCluster, free_port


def shortened_rules(out_dir: Path, hold: str = "0s") -> Path:
    """Copies of the rule files with every alert's `for:` set to `hold`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in RULES_DIR.glob("*.yml"):
        rules = yaml.safe_load(path.read_text())
        for group in rules["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    rule["for"] = hold
        (out_dir / path.name).write_text(yaml.safe_dump(rules, sort_keys=False))
    return out_dir


@dataclass(frozen=True)
class AlertingStack:
    prometheus_url: str
    alertmanager_url: str
    notifications: Path

    def read(self) -> list[dict[str, Any]]:
        """Every notification the receiver got so far, oldest first."""
        if not self.notifications.exists():
            return []
        return [json.loads(line) for line in self.notifications.read_text().splitlines()]

    def wait_for(
        self, match: Callable[[dict[str, Any]], bool], timeout: float = 180
    ) -> dict[str, Any]:
        """The first notification `match` accepts, polling the receiver's file."""
        deadline = time.monotonic() + timeout
        while True:
            found = [n for n in self.read() if match(n)]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                seen = [(n["status"], [a["labels"] for a in n["alerts"]]) for n in self.read()]
                raise TimeoutError(f"no matching notification in {timeout} s; got {seen}")
            time.sleep(1)


@contextmanager
def alerting_stack(cluster: LiveCluster) -> Iterator[AlertingStack]:
    """Alertmanager, its receiver and Prometheus for `cluster`; stopped afterwards."""
    env = cluster.env | {
        "PROM_PORT": str(free_port()),
        "PROM_SCRAPE_INTERVAL": "2s",
        "PROM_RULES_DIR": str(shortened_rules(cluster.run_dir / "rules-shortened")),
        "AM_PORT": str(free_port()),
        "AM_RECEIVER_PORT": str(free_port()),
        "AM_GROUP_WAIT": "1s",
        "AM_GROUP_INTERVAL": "2s",
        "AM_REPEAT_INTERVAL": "1h",
    }

    # The cluster's own script runner, with the monitoring stack's settings added.
    script = replace(cluster, env=env).script

    try:
        assert "alertmanager up" in script("alertmanager.sh", "start", timeout=120)
        assert "prometheus up" in script("prometheus.sh", "start", timeout=120)
        yield AlertingStack(
            prometheus_url=f"http://127.0.0.1:{env['PROM_PORT']}",
            alertmanager_url=f"http://127.0.0.1:{env['AM_PORT']}",
            notifications=cluster.run_dir / "alertmanager" / "notifications.jsonl",
        )
    finally:
        script("prometheus.sh", "stop", timeout=120)
        script("alertmanager.sh", "stop", timeout=120)
