"""The Alertmanager config passes amtool (config parser and its own routing tree test), its
inhibitions name real alerts and labels those alerts carry, and the default receiver
(receiver.py, run for real on a free port) appends each notification as one JSON line.

amtool ships with Debian's prometheus-alertmanager, which the bootstrap installs
(cluster/local/alertmanager.sh install); without it the amtool tests skip.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from monitoring.alertmanager.render import LOCAL_WEBHOOK, TEMPLATE, dump, render
from monitoring.prometheus.render import RULES_DIR
from tests.support.live_cluster import free_port

RECEIVER = TEMPLATE.parent / "receiver.py"


def amtool(*args: str) -> str:
    path = shutil.which("amtool")
    if path is None:
        pytest.skip("amtool not installed (apt-get install prometheus-alertmanager)")
    proc = subprocess.run([path, *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"amtool {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def alert_rules() -> dict[str, dict[str, Any]]:
    return {
        rule["alert"]: rule
        for path in sorted(RULES_DIR.glob("*_alerts.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


def matched_alerts(matcher: str, names: set[str]) -> set[str]:
    """Alert names an `alertname="X"` or `alertname=~"X|Y"` matcher selects."""
    op = "=~" if "=~" in matcher else "="
    key, value = matcher.split(op, 1)
    assert key == "alertname", matcher
    wanted = value.strip('"').split("|") if op == "=~" else [value.strip('"')]
    assert set(wanted) <= names, f"{matcher} names alerts that do not exist"
    return set(wanted)


def test_committed_config_is_valid() -> None:
    out = amtool("check-config", str(TEMPLATE))
    assert "SUCCESS" in out


def test_rendered_config_is_valid_and_points_at_the_receiver(tmp_path: Path) -> None:
    config = render(receiver_port=19095, timers={"group_wait": "1s", "group_interval": "2s"})
    path = tmp_path / "alertmanager.yml"
    path.write_text(dump(config))
    assert "SUCCESS" in amtool("check-config", str(path))
    urls = {h["url"] for r in config["receivers"] for h in r.get("webhook_configs", [])}
    assert urls == {"http://127.0.0.1:19095/alerts"}, urls
    assert LOCAL_WEBHOOK not in path.read_text()
    routes = [config["route"], *config["route"]["routes"]]
    assert {r.get("group_wait") for r in routes} <= {"1s", None}
    assert config["route"]["group_interval"] == "2s"
    # Untouched timers stay as committed.
    assert config["route"]["repeat_interval"] == "4h"


def test_unknown_timer_is_refused() -> None:
    with pytest.raises(ValueError, match="group_wiat"):
        render(timers={"group_wiat": "1s"})


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", "alertname=ServeDeploymentUnhealthy"], "oncall"),
        (["severity=warning", "alertname=ModelQueueWaitP99High"], "team"),
        (["alertname=Unlabelled"], "local-log"),
    ],
)
def test_routes_by_severity(labels: list[str], receiver: str) -> None:
    out = amtool("config", "routes", "test", f"--config.file={TEMPLATE}", *labels)
    assert out.strip() == receiver


def test_every_alert_has_a_severity_that_routes() -> None:
    routed = {"critical", "warning"}
    for name, rule in alert_rules().items():
        assert rule["labels"]["severity"] in routed, name


def test_inhibitions_name_real_alerts_whose_labels_match() -> None:
    rules = alert_rules()
    inhibit = yaml.safe_load(TEMPLATE.read_text())["inhibit_rules"]
    assert inhibit
    for rule in inhibit:
        (source,) = rule["source_matchers"]
        (target,) = rule["target_matchers"]
        sources, targets = matched_alerts(source, set(rules)), matched_alerts(target, set(rules))
        for name in sources | targets:
            expr = rules[name]["expr"]
            for label in rule["equal"]:
                # Recording rules and `by (...)` keep SessionName and application; every
                # other label must be visibly kept or, for `model`, added.
                if label == "model" and name in sources:
                    assert '"model", "$1", "deployment"' in expr, name
                elif label not in {"SessionName", "application"}:
                    assert label in expr, (name, label)


def test_model_down_inhibits_its_latency_alerts() -> None:
    inhibit = yaml.safe_load(TEMPLATE.read_text())["inhibit_rules"]
    names = set(alert_rules())
    pairs = {
        (s, t, tuple(r["equal"]))
        for r in inhibit
        for s in matched_alerts(r["source_matchers"][0], names)
        for t in matched_alerts(r["target_matchers"][0], names)
    }
    for latency in ("ModelInferenceLatencyP99High", "ModelQueueWaitP99High"):
        for down in ("ServeDeploymentUnhealthy", "ServeReplicasBelowTarget"):
            assert (down, latency, ("SessionName", "application", "model")) in pairs


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    out = tmp_path / "notifications.jsonl"
    argv = [sys.executable, str(RECEIVER), "--port", str(port), "--out", str(out)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "receiver never answered /healthz"
            time.sleep(0.1)
        yield url, out
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_receiver_appends_one_line_per_notification(receiver: tuple[str, Path]) -> None:
    url, out = receiver
    for status in ("firing", "resolved"):
        body = {"status": status, "receiver": "oncall", "alerts": [{"labels": {"a": "b"}}]}
        assert httpx.post(f"{url}/alerts", json=body).status_code == 200
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [n["status"] for n in lines] == ["firing", "resolved"]
    assert all(n["path"] == "/alerts" and n["received_at"] > 0 for n in lines)


@pytest.mark.parametrize(("content", "status"), [(b"not json", 400), (b"[1, 2]", 400), (b"", 411)])
def test_receiver_refuses_bad_bodies_with_4xx(
    receiver: tuple[str, Path], content: bytes, status: int
) -> None:
    url, out = receiver
    assert httpx.post(f"{url}/alerts", content=content).status_code == status
    assert not out.exists()
