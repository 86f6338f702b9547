"""PromQL builders for the panels, and Grafana's template variables inside PromQL.

Every template variable is multi-value with `.*` as "All"; Grafana expands a multi-value
selection to a regex alternation, so variables are only ever used with =~.
"""

from __future__ import annotations

import re

RATE = "$__rate_interval"
CLUSTER = 'SessionName=~"$cluster"'
APP = 'application=~"$application"'
DEPLOYMENT = 'deployment=~"$deployment"'
MODEL = 'model=~"$model"'
# Serve's own /-/healthz and /-/routes are probes, not user traffic.
USER_ROUTES = 'route!~"/-/.*"'

# Variables Grafana defines itself; outside Grafana they become a concrete window.
BUILTIN_INTERVALS = ("__rate_interval", "__interval", "__range")
VARIABLE_REF = re.compile(r"\$\{?(\w+)\}?")


def sel(metric: str, *matchers: str) -> str:
    return metric + "{" + ", ".join(matchers) + "}"


def agg(op: str, by: str, metric: str, *matchers: str) -> str:
    """Aggregate a gauge: `op by (by) (metric{matchers})`."""
    return f"{op} by ({by}) ({sel(metric, *matchers)})"


def rate_sum(metric: str, by: str, *matchers: str) -> str:
    return f"sum by ({by}) (rate({sel(metric, *matchers)}[{RATE}]))"


def quantile(q: float, histogram: str, by: str, *matchers: str) -> str:
    buckets = rate_sum(histogram + "_bucket", by + ", le", *matchers)
    return f"histogram_quantile({q}, {buckets})"


def mean(histogram: str, by: str, *matchers: str) -> str:
    """Mean observation over the interval: rate of the sum over rate of the count."""
    total = rate_sum(histogram + "_sum", by, *matchers)
    count = rate_sum(histogram + "_count", by, *matchers)
    return f"{total} / {count}"


def status_percent(status: str, by: str, counter: str, *matchers: str) -> str:
    """Percent of requests whose `status` matcher holds; 0, not "no data", without any."""
    every = rate_sum(counter, by, *matchers)
    matching = rate_sum(counter, by, *matchers, status)
    return f"100 * ({matching} or {every} * 0) / {every}"


def variables_used(expr: str) -> set[str]:
    return set(VARIABLE_REF.findall(expr))


def substitute_variables(expr: str, *, rate_interval: str = "1m") -> str:
    """Make a panel query runnable on plain Prometheus: every template variable becomes its
    "All" value `.*`, Grafana's interval variables become `rate_interval`."""

    def replace(match: re.Match[str]) -> str:
        return rate_interval if match.group(1) in BUILTIN_INTERVALS else ".*"

    return VARIABLE_REF.sub(replace, expr)
