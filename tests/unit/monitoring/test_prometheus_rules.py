"""The Prometheus config and rules pass promtool: its config and rule parsers, its service
discovery with our relabelling, and the rule unit tests in monitoring/prometheus/tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitoring.prometheus.render import RULES_DIR, TEMPLATE, dump, render
from tests.support.promtool import promtool, run_promtool

PROM_DIR = TEMPLATE.parent
RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
RULE_TESTS = sorted((PROM_DIR / "tests").glob("*.yml"))


def alert_names() -> set[str]:
    return {
        rule["alert"]
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


def alert_cases() -> list[dict[str, Any]]:
    return [
        case
        for path in RULE_TESTS
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]


def write_rendered(tmp_path: Path, ray_targets: list[str] | None = None) -> Path:
    sd_file = tmp_path / "ray" / "prom_metrics_service_discovery.json"
    sd_file.parent.mkdir()
    if ray_targets is not None:
        sd_file.write_text(json.dumps([{"labels": {"job": "ray"}, "targets": ray_targets}]))
    config = tmp_path / "prometheus.yml"
    config.write_text(
        dump(render(sd_file=sd_file, listen_port=19090, local_hosts=["192.0.2.2", "fd00::2"]))
    )
    return config


def test_rendered_config_and_its_rules_are_valid(tmp_path: Path) -> None:
    out = run_promtool("check", "config", str(write_rendered(tmp_path))).stdout
    # check config also parses every rule file the config loads.
    for path in RULE_FILES:
        assert f"Checking {path}" in out


def test_committed_config_is_valid_as_is() -> None:
    out = run_promtool("check", "config", str(TEMPLATE)).stdout
    assert f"{len(RULE_FILES)} rule files found" in out


def test_rule_files_pass_check_rules() -> None:
    assert RULE_FILES, f"no rule files in {RULES_DIR}"
    run_promtool("check", "rules", *map(str, RULE_FILES))


def test_rule_unit_tests_pass() -> None:
    assert RULE_TESTS
    out = run_promtool("test", "rules", *map(str, RULE_TESTS)).stdout
    assert out.count("SUCCESS") == len(RULE_TESTS)


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    cases = alert_cases()
    fired = {c["alertname"] for c in cases if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    alerts = alert_names()
    assert alerts - fired == set(), "alerts never shown firing"
    assert alerts - quiet == set(), "alerts never shown not firing"
    assert (fired | quiet) - alerts == set(), "tests for alerts that do not exist"


def test_every_alert_has_severity_and_text() -> None:
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" not in rule:
                    continue
                assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
                assert rule["annotations"]["summary"], rule["alert"]
                assert rule["annotations"]["description"], rule["alert"]


def test_readme_explains_every_alert() -> None:
    readme = (PROM_DIR.parent / "README.md").read_text()
    assert {name for name in alert_names() if f"`{name}`" not in readme} == set()


def test_ray_targets_on_this_host_are_scraped_over_loopback(tmp_path: Path) -> None:
    config = write_rendered(
        tmp_path, ["192.0.2.2:8080", "[fd00::2]:44217", "10.1.2.3:8080", "ray-worker-1:8080"]
    )
    # Runs the file discovery and our relabelling exactly as Prometheus would.
    out = run_promtool("check", "service-discovery", "--timeout=2s", str(config), "ray").stdout
    addresses = sorted(target["labels"]["__address__"] for target in json.loads(out))
    # Only this host's addresses are rewritten; other hosts keep their advertised one.
    assert addresses == ["10.1.2.3:8080", "127.0.0.1:44217", "127.0.0.1:8080", "ray-worker-1:8080"]


def test_render_fills_in_paths_port_and_interval(tmp_path: Path) -> None:
    sd_file = tmp_path / "sd.json"
    config = render(sd_file=sd_file, listen_port=29090, scrape_interval="15s")
    assert config["global"] == {"scrape_interval": "15s", "evaluation_interval": "15s"}
    assert config["rule_files"] == [f"{RULES_DIR}/*.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["ray"]["file_sd_configs"][0]["files"] == [str(sd_file)]
    assert jobs["prometheus"]["static_configs"] == [{"targets": ["127.0.0.1:29090"]}]


def test_missing_promtool_fails_unless_explicitly_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("ALLOW_NO_PROMETHEUS", raising=False)
    with pytest.raises(pytest.fail.Exception, match="promtool not found"):
        promtool()
    monkeypatch.setenv("ALLOW_NO_PROMETHEUS", "1")
    with pytest.raises(pytest.skip.Exception):
        promtool()
