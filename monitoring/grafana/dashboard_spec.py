"""A small typed spec of a Grafana dashboard, rendered with Grafana's own SDK.

The panel modules declare what the dashboards show with the dataclasses here (rows of
time-series and stat panels over one Prometheus data source chosen by a `datasource`
variable, query variables, Prometheus annotations); ``to_json`` builds the dashboard with
Grafana Labs' grafana-foundation-sdk (typed builders generated from Grafana's schemas) and
returns what its encoder writes. Layout: panels flow left to right in 24-column rows.

What the SDK (11.6 schemas) lacks, so is added to its output here: a Prometheus annotation
query's own fields (``step``, ``titleFormat``, ``textFormat``, ``tagKeys``,
``useValueForTime``, and a ``target`` holding the PromQL expression: its AnnotationQuery
types ``target`` as Grafana's built-in annotation filter), and ``id`` on row panels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as models

GRID_WIDTH = 24
PANEL_HEIGHT = 8
DATASOURCE_VAR = "datasource"
DATASOURCE = {"type": "prometheus", "uid": "${" + DATASOURCE_VAR + "}"}
_DATASOURCE_REF = models.DataSourceRef(type_val="prometheus", uid="${" + DATASOURCE_VAR + "}")


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
    # Panels of an opt-in feature, which have data only where it is configured (named here
    # and in the description), e.g. the SLO autoscaling policy's gauges.
    only_with: str | None = None
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


def _target(target: Target, ref_id: str) -> prometheus.Dataquery:
    return (
        prometheus.Dataquery()
        .ref_id(ref_id)
        .datasource(_DATASOURCE_REF)
        .expr(target.expr)
        .legend_format(target.legend)
        .range()
    )


def _mappings(panel: Panel) -> list[models.ValueMapping]:
    if not panel.value_names:
        return []
    options = {
        str(value): models.ValueMappingResult(text=text, color=color, index=i)
        for i, (value, (text, color)) in enumerate(sorted(panel.value_names.items()))
    }
    return [models.ValueMap(options=options)]


def _stat(panel: Panel) -> stat.Panel:
    return (
        stat.Panel()
        .reduce_options(
            common_builders.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False)
        )
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.NONE)
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
        .justify_mode(common.BigValueJustifyMode.AUTO)
        .orientation(common.VizOrientation.AUTO)
    )


def _timeseries() -> timeseries.Panel:
    return (
        timeseries.Panel()
        .fill_opacity(10)
        .line_width(1)
        .show_points(common.VisibilityMode.NEVER)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .calcs(["mean", "max", "lastNotNull"])
            .show_legend(True)
        )
        .tooltip(
            common_builders.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.DESCENDING)
        )
    )


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> stat.Panel | timeseries.Panel:
    description = panel.description
    if panel.gpu_only:
        description += " Empty on clusters without GPUs."
    if panel.only_with:
        description += f" Empty unless {panel.only_with}."
    built = _stat(panel) if panel.kind == "stat" else _timeseries()
    built = (
        built.id(panel_id)
        .title(panel.title)
        .description(description)
        .datasource(_DATASOURCE_REF)
        .grid_pos(models.GridPos(h=PANEL_HEIGHT, w=panel.width, x=x, y=y))
        .unit(panel.unit)
        .targets([_target(t, chr(ord("A") + i)) for i, t in enumerate(panel.targets)])
    )
    if panel.min is not None:
        built = built.min(panel.min)
    if panel.max is not None:
        built = built.max(panel.max)
    if panel.value_names:
        built = built.mappings(_mappings(panel))
    return built


def _variable(variable: Variable) -> builders.QueryVariable:
    return (
        builders.QueryVariable(variable.name)
        .label(variable.label)
        .datasource(_DATASOURCE_REF)
        .query(variable.query)
        # Refresh the values whenever the time range changes (new replicas, models).
        .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .include_all(True)
        .all_value(".*")
        .multi(True)
        .current(models.VariableOption(selected=True, text=["All"], value=["$__all"]))
        .sort(models.VariableSort.ALPHABETICAL_ASC)
    )


def _datasource_variable() -> builders.DatasourceVariable:
    return builders.DatasourceVariable(DATASOURCE_VAR).label("Data source").type("prometheus")


def _annotation(annotation: Annotation) -> builders.AnnotationQuery:
    return (
        builders.AnnotationQuery()
        .name(annotation.name)
        .datasource(_DATASOURCE_REF)
        .enable(True)
        .hide(False)
        .icon_color(annotation.color)
        .expr(annotation.expr)
    )


def _prometheus_annotation_fields(annotation: Annotation) -> dict[str, Any]:
    """What a Prometheus annotation carries beyond the SDK's AnnotationQuery (see above).
    Grafana 10+ reads the query from `target`; the flat `expr`/`step` keep older ones working."""
    return {
        "step": annotation.step,
        "target": {"expr": annotation.expr, "interval": annotation.step, "refId": "Anno"},
        "titleFormat": annotation.title,
        "textFormat": annotation.text,
        "tagKeys": ",".join(annotation.tag_keys),
        "useValueForTime": False,
    }


def _with_layout(built: builders.Dashboard, rows: tuple[Row, ...]) -> builders.Dashboard:
    """Rows and panels with explicit grid positions: a panel that would overflow the row's
    24 columns starts the next line (the SDK's own flow lets it overflow)."""
    next_id = 1
    y = 0
    for row in rows:
        grid = models.GridPos(h=1, w=GRID_WIDTH, x=0, y=y)
        built = built.with_row(builders.Row(row.title).id(next_id).grid_pos(grid))
        next_id += 1
        y += 1
        x = 0
        for panel in row.panels:
            if x + panel.width > GRID_WIDTH:
                x = 0
                y += PANEL_HEIGHT
            built = built.with_panel(_panel(panel, next_id, x, y))
            next_id += 1
            x += panel.width
        y += PANEL_HEIGHT
    return built


def to_json(dashboard: Dashboard) -> dict[str, Any]:
    """The dashboard as Grafana stores it; `id` is left out so imports create or match by uid."""
    built = (
        builders.Dashboard(dashboard.title)
        .uid(dashboard.uid)
        .description(dashboard.description)
        .tags(list(dashboard.tags))
        .editable()
        .tooltip(models.DashboardCursorSync.CROSSHAIR)
        .refresh("10s")
        .time("now-30m", "now")
        .timezone("browser")
        .version(1)
        .with_variable(_datasource_variable())
    )
    for variable in dashboard.variables:
        built = built.with_variable(_variable(variable))
    for annotation in dashboard.annotations:
        built = built.annotation(_annotation(annotation))
    built = _with_layout(built, dashboard.rows)
    rendered: dict[str, Any] = json.loads(json.dumps(built.build(), cls=JSONEncoder))
    for entry, annotation in zip(
        rendered.get("annotations", {}).get("list", []), dashboard.annotations, strict=True
    ):
        entry.update(_prometheus_annotation_fields(annotation))
    rendered.setdefault("annotations", {"list": []})
    rendered.setdefault("links", [])
    return rendered
