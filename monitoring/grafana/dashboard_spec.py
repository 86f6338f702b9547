"""A small typed spec of a Grafana dashboard and its rendering to Grafana's JSON.

Only what the dashboards here use: rows of time-series and stat panels over one
Prometheus data source chosen by a `datasource` variable, plus query variables and
Prometheus annotations. Layout is automatic: panels flow left to right in 24-column rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

GRID_WIDTH = 24
PANEL_HEIGHT = 8
DATASOURCE_VAR = "datasource"
DATASOURCE = {"type": "prometheus", "uid": "${" + DATASOURCE_VAR + "}"}
# Grafana 10.x/11.x read and write this version without migrating the panels.
SCHEMA_VERSION = 39


@dataclass(frozen=True)
class Target:
    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    targets: tuple[Target, ...]
    unit: str = "short"
    kind: Literal["timeseries", "stat"] = "timeseries"
    width: int = 12
    min: float | None = 0
    max: float | None = None
    # Panels that only have data on nodes with GPUs (Ray exports no GPU series otherwise).
    gpu_only: bool = False
    # Stat panels: numeric value -> (text, colour).
    value_names: dict[int, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Variable:
    """A multi-value query variable whose "All" is the regex `.*` (use it with =~)."""

    name: str
    label: str
    query: str


@dataclass(frozen=True)
class Annotation:
    """Events drawn across every time-series panel from a Prometheus query: each series is
    a region while it has samples, titled and tagged from its labels ({{label}})."""

    name: str
    expr: str
    title: str
    text: str
    tag_keys: tuple[str, ...]
    color: str = "red"
    step: str = "30s"


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    tags: tuple[str, ...]
    variables: tuple[Variable, ...]
    rows: tuple[Row, ...]
    annotations: tuple[Annotation, ...] = ()


def _field_config(panel: Panel) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": panel.unit}
    if panel.min is not None:
        defaults["min"] = panel.min
    if panel.max is not None:
        defaults["max"] = panel.max
    if panel.kind == "timeseries":
        defaults["custom"] = {"fillOpacity": 10, "lineWidth": 1, "showPoints": "never"}
    if panel.value_names:
        defaults["mappings"] = [
            {
                "type": "value",
                "options": {
                    str(value): {"text": text, "color": color, "index": i}
                    for i, (value, (text, color)) in enumerate(sorted(panel.value_names.items()))
                },
            }
        ]
    return {"defaults": defaults, "overrides": []}


def _options(panel: Panel) -> dict[str, Any]:
    if panel.kind == "stat":
        return {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "none",
            "textMode": "value_and_name",
            "justifyMode": "auto",
            "orientation": "auto",
        }
    return {
        "legend": {
            "displayMode": "table",
            "placement": "bottom",
            "calcs": ["mean", "max", "lastNotNull"],
            "showLegend": True,
        },
        "tooltip": {"mode": "multi", "sort": "desc"},
    }


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    description = panel.description
    if panel.gpu_only:
        description += " Empty on clusters without GPUs."
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"h": PANEL_HEIGHT, "w": panel.width, "x": x, "y": y},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": DATASOURCE,
                "expr": target.expr,
                "legendFormat": target.legend,
                "range": True,
            }
            for i, target in enumerate(panel.targets)
        ],
        "fieldConfig": _field_config(panel),
        "options": _options(panel),
    }


def _variable_json(variable: Variable) -> dict[str, Any]:
    return {
        "name": variable.name,
        "label": variable.label,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": variable.query,
        "query": {"query": variable.query, "refId": f"{variable.name}-values"},
        # 2: refresh the values whenever the time range changes (new replicas, models).
        "refresh": 2,
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "regex": "",
        "sort": 1,
        "hide": 0,
    }


def _annotation_json(annotation: Annotation) -> dict[str, Any]:
    # Grafana 10+ reads the query from `target`; the flat `expr`/`step` keep older ones working.
    return {
        "name": annotation.name,
        "datasource": DATASOURCE,
        "enable": True,
        "hide": False,
        "iconColor": annotation.color,
        "expr": annotation.expr,
        "step": annotation.step,
        "target": {"expr": annotation.expr, "interval": annotation.step, "refId": "Anno"},
        "titleFormat": annotation.title,
        "textFormat": annotation.text,
        "tagKeys": ",".join(annotation.tag_keys),
        "useValueForTime": False,
    }


def _datasource_variable() -> dict[str, Any]:
    return {
        "name": DATASOURCE_VAR,
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "options": [],
        "regex": "",
        "refresh": 1,
        "hide": 0,
    }


def _layout(rows: tuple[Row, ...]) -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = []
    next_id = 1
    y = 0
    for row in rows:
        panels.append(
            {
                "id": next_id,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
                "panels": [],
            }
        )
        next_id += 1
        y += 1
        x = 0
        for panel in row.panels:
            if x + panel.width > GRID_WIDTH:
                x = 0
                y += PANEL_HEIGHT
            panels.append(_panel_json(panel, next_id, x, y))
            next_id += 1
            x += panel.width
        y += PANEL_HEIGHT
    return panels


def to_json(dashboard: Dashboard) -> dict[str, Any]:
    """The dashboard as Grafana stores it; `id` is left out so imports create or match by uid."""
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": list(dashboard.tags),
        "editable": True,
        "graphTooltip": 1,
        "refresh": "10s",
        "time": {"from": "now-30m", "to": "now"},
        "timezone": "browser",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "links": [],
        "annotations": {"list": [_annotation_json(a) for a in dashboard.annotations]},
        "templating": {
            "list": [_datasource_variable(), *(_variable_json(v) for v in dashboard.variables)]
        },
        "panels": _layout(dashboard.rows),
    }
