"""The Grafana dashboards of the inference cluster, generated from panels.py.

    python -m monitoring.grafana.dashboards          # rewrite dashboards/*.json
    python -m monitoring.grafana.dashboards --check  # exit 1 if they are out of date

`panel_queries` and `substitute_variables` let a test run every panel's query against a
real Prometheus; panels flagged gpu_only have no data on CPU-only clusters.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from monitoring.grafana.dashboard_spec import Annotation, Dashboard, Panel, to_json
from monitoring.grafana.generation_panels import GENERATION
from monitoring.grafana.multiplexing_panels import MULTIPLEXING
from monitoring.grafana.panels import AUTOSCALING, HARDWARE, OVERVIEW, PER_MODEL, VARIABLES
from monitoring.grafana.promql import (
    APP,
    BUILTIN_INTERVALS,
    CLUSTER,
    sel,
    substitute_variables,
    variables_used,
)

__all__ = [
    "BUILTIN_INTERVALS",
    "DASHBOARDS",
    "INFERENCE",
    "OUT_DIR",
    "output_path",
    "panel_queries",
    "panels",
    "render",
    "substitute_variables",
    "variables_used",
]

OUT_DIR = Path(__file__).resolve().parent / "dashboards"

INFERENCE = Dashboard(
    uid="ray-serve-inference",
    title="Ray Serve inference",
    description="Traffic, latency and errors per route and model, batching, text "
    "generation, autoscaling and hardware of the Ray Serve inference cluster.",
    tags=("ray", "serve", "inference"),
    variables=VARIABLES,
    rows=(OVERVIEW, PER_MODEL, MULTIPLEXING, GENERATION, AUTOSCALING, HARDWARE),
    # Prometheus's own ALERTS series: one region per alert while it fires (the rules in
    # monitoring/prometheus/rules/*_alerts.yml), so a latency step lines up with its cause.
    annotations=(
        Annotation(
            name="Firing alerts",
            expr=sel("ALERTS", 'alertstate="firing"', CLUSTER, APP),
            title="{{alertname}}",
            text="{{severity}}: {{application}} {{deployment}}{{model}}{{route}}",
            tag_keys=("severity", "application", "deployment", "model"),
        ),
    ),
)

DASHBOARDS: tuple[Dashboard, ...] = (INFERENCE,)


def panels(
    dashboard: Dashboard, *, include_gpu_only: bool = True, include_opt_in: bool = True
) -> list[Panel]:
    """Every panel; without GPU-only ones or opt-in features' ones (``only_with``) on request."""
    return [
        p
        for row in dashboard.rows
        for p in row.panels
        if (include_gpu_only or not p.gpu_only) and (include_opt_in or not p.only_with)
    ]


def panel_queries(
    dashboard: Dashboard, *, include_gpu_only: bool = True, include_opt_in: bool = True
) -> list[tuple[str, str]]:
    """(panel title, PromQL) for every target of every panel, with Grafana's variables."""
    return [
        (panel.title, target.expr)
        for panel in panels(
            dashboard, include_gpu_only=include_gpu_only, include_opt_in=include_opt_in
        )
        for target in panel.targets
    ]


def render(dashboard: Dashboard) -> str:
    return json.dumps(to_json(dashboard), indent=2, sort_keys=True) + "\n"


def output_path(dashboard: Dashboard) -> Path:
    return OUT_DIR / f"{dashboard.uid}.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for dashboard in DASHBOARDS:
        path = output_path(dashboard)
        text = render(dashboard)
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    verb = "out of date" if args.check else "written"
    for path in stale:
        print(f"{verb}: {path}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
