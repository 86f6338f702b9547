"""The generated Grafana dashboards: committed JSON is current, every query is well formed
PromQL (promtool's parser), uses only defined variables, and names metrics that exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitoring.grafana.dashboard_spec import DATASOURCE, DATASOURCE_VAR, Dashboard, to_json
from monitoring.grafana.dashboards import (
    BUILTIN_INTERVALS,
    DASHBOARDS,
    OUT_DIR,
    output_path,
    panel_queries,
    panels,
    render,
    substitute_variables,
    variables_used,
)
from tests.support.promtool import run_promtool

ROOT = Path(__file__).resolve().parents[3]
APP_METRICS_SOURCE = ROOT / "deployments" / "metrics.py"
README = ROOT / "monitoring" / "README.md"
LABEL_VALUES = re.compile(r"label_values\((.*), (\w+)\)")

by_uid = pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda d: d.uid)


def grafana_panels(dashboard: Dashboard) -> list[dict[str, Any]]:
    return [p for p in to_json(dashboard)["panels"] if p["type"] != "row"]


@by_uid
def test_committed_json_is_what_the_generator_writes(dashboard: Dashboard) -> None:
    path = output_path(dashboard)
    assert path.exists(), "run: python -m monitoring.grafana.dashboards"
    assert path.read_text() == render(dashboard), "run: python -m monitoring.grafana.dashboards"


def test_no_stale_dashboard_files() -> None:
    assert {p.name for p in OUT_DIR.glob("*.json")} == {output_path(d).name for d in DASHBOARDS}


@by_uid
def test_every_panel_has_a_query(dashboard: Dashboard) -> None:
    for panel in grafana_panels(dashboard):
        assert panel["targets"], panel["title"]
        assert all(t["expr"].strip() for t in panel["targets"]), panel["title"]
        assert panel["datasource"] == DATASOURCE
        assert all(t["datasource"] == DATASOURCE for t in panel["targets"])


@by_uid
def test_panel_titles_are_unique(dashboard: Dashboard) -> None:
    titles = [p.title for p in panels(dashboard)]
    assert len(titles) == len(set(titles))


@by_uid
def test_panels_do_not_overlap(dashboard: Dashboard) -> None:
    taken: set[tuple[int, int]] = set()
    for panel in to_json(dashboard)["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & taken, panel["title"]
        taken |= cells


@by_uid
def test_variables_used_are_defined_and_only_in_regex_matchers(dashboard: Dashboard) -> None:
    defined = [v["name"] for v in to_json(dashboard)["templating"]["list"]]
    assert defined[0] == DATASOURCE_VAR
    queries = [expr for _, expr in panel_queries(dashboard)]
    for i, variable in enumerate(dashboard.variables):
        # A variable may only depend on the ones before it.
        assert variables_used(variable.query) <= {v.name for v in dashboard.variables[:i]}
        queries.append(variable.query)
    for expr in queries:
        assert variables_used(expr) <= set(defined) | set(BUILTIN_INTERVALS), expr
        # Multi-value variables expand to a regex alternation: only =~ matches it.
        for name in variables_used(expr) - set(BUILTIN_INTERVALS):
            assert re.findall(rf'([=!]~?)"\${name}"', expr) == ["=~"] * expr.count(f"${name}")


@by_uid
def test_every_query_parses_as_promql(dashboard: Dashboard, tmp_path: Path) -> None:
    """promtool cannot parse a bare expression, but it parses every rule's expr."""
    exprs = [substitute_variables(expr) for _, expr in panel_queries(dashboard)]
    for variable in dashboard.variables:
        match = LABEL_VALUES.fullmatch(variable.query)
        assert match, variable.query
        exprs.append(substitute_variables(match.group(1)))
    rules = [{"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(exprs)]
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = run_promtool("check", "rules", str(path)).stdout
    assert f"SUCCESS: {len(exprs)} rules found" in out


def test_substitute_variables_makes_plain_promql() -> None:
    expr = 'rate(x{a=~"$cluster", b=~"${application}"}[$__rate_interval])'
    assert substitute_variables(expr, rate_interval="30s") == 'rate(x{a=~".*", b=~".*"}[30s])'


@by_uid
def test_app_metrics_in_panels_exist_in_the_app(dashboard: Dashboard) -> None:
    declared = set(re.findall(r'"(model_\w+)"', APP_METRICS_SOURCE.read_text()))
    for title, expr in panel_queries(dashboard):
        for name in re.findall(r"\bray_(model_\w+?)(?:_total|_bucket|_sum|_count)?\b", expr):
            assert name in declared, f"{title}: ray_{name} is not declared in {APP_METRICS_SOURCE}"


@by_uid
def test_gpu_panels_are_flagged(dashboard: Dashboard) -> None:
    """The "every panel has data" check skips gpu_only panels: CPU nodes export no GPU series."""
    gpu_metric = re.compile(r"ray_node_(gpus_|gram_)")
    for title, expr in panel_queries(dashboard, include_gpu_only=False):
        assert not gpu_metric.search(expr), title
    gpu_titles = {t for t, e in panel_queries(dashboard) if gpu_metric.search(e)}
    assert gpu_titles == {p.title for p in panels(dashboard) if p.gpu_only}
    gpu_json = [p for p in grafana_panels(dashboard) if p["title"] in gpu_titles]
    assert all("without GPUs" in p["description"] for p in gpu_json)


@by_uid
def test_readme_explains_every_panel(dashboard: Dashboard) -> None:
    readme = README.read_text()
    missing = [p.title for p in panels(dashboard) if p.title not in readme]
    assert not missing, f"not described in {README}"


def test_compose_provisions_the_generated_dashboards() -> None:
    grafana = yaml.safe_load((ROOT / "monitoring" / "docker-compose.yml").read_text())["services"][
        "grafana"
    ]
    provider = yaml.safe_load(
        (OUT_DIR.parent / "provisioning" / "dashboards" / "dashboards.yml").read_text()
    )["providers"][0]
    mounts = {}
    for volume in grafana["volumes"]:
        source, target = volume.split(":")[:2]
        mounts[source] = target
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/{output_path(DASHBOARDS[0]).name}"
