"""Alerts reach someone: on the real test cluster, a model deployment whose replica cannot
be placed fires ServeReplicasBelowTarget in a real Prometheus, which sends it to a real
Alertmanager, which routes it (warning -> `team`) to the default webhook receiver; the
notification lands in the receiver's file. Fixing the deployment sends "resolved" the
same way. While it fires, the dashboard's "Firing alerts" annotation query returns it.

The stack runs with test timings only (tests/support/alerting.py: `for:` 0 s, 2 s
evaluation, 1-2 s grouping); rules, routes and receivers are the committed ones.
"""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from monitoring.grafana.dashboards import INFERENCE, substitute_variables
from tests.support.alerting import AlertingStack, alerting_stack
from tests.support.live_cluster import MODEL, LiveCluster, deployment, one_ingress_app

APP = "alerting"
ALERT = "ServeReplicasBelowTarget"


@pytest.fixture(scope="module")
def stack(cluster: LiveCluster) -> Iterator[AlertingStack]:
    with alerting_stack(cluster) as running:
        yield running


def app_with_model_cpus(main_app: dict[str, Any], num_cpus: float) -> dict[str, Any]:
    app = one_ingress_app(main_app, APP)
    model = deployment(app, MODEL)
    model.pop("autoscaling_config")
    model.update(num_replicas=1, ray_actor_options={"num_cpus": num_cpus})
    return app


def ours(alert: dict[str, Any]) -> bool:
    labels = alert["labels"]
    return bool(
        labels.get("alertname") == ALERT
        and labels.get("application") == APP
        and labels.get("deployment") == MODEL
    )


def test_unplaceable_model_alert_is_delivered_then_resolved(
    cluster: LiveCluster, stack: AlertingStack
) -> None:
    original = copy.deepcopy(cluster.config)
    main = original["applications"][0]
    # The test cluster has 2 CPUs: a replica asking for 64 stays pending forever, so the
    # controller targets 1 replica while none is healthy.
    broken = copy.deepcopy(original)
    broken["applications"].append(app_with_model_cpus(main, 64))
    path = cluster.run_dir / "serve_config.alerting.yaml"
    path.write_text(yaml.safe_dump(broken, sort_keys=False))
    try:
        # `serve deploy` alone: deploy.sh would wait for a RUNNING that never comes.
        subprocess.run(["serve", "deploy", str(path)], env=cluster.env, check=True, timeout=120)
        firing = stack.wait_for(
            lambda n: n["status"] == "firing" and any(ours(a) for a in n["alerts"])
        )
        alert = next(a for a in firing["alerts"] if ours(a))
        # Routed by severity, labelled for inhibition, annotated for the reader.
        assert firing["receiver"] == "team", firing
        assert alert["labels"]["severity"] == "warning"
        assert alert["labels"]["model"] == MODEL
        assert "SessionName" in alert["labels"]
        assert "fewer than its target" in alert["annotations"]["summary"]
        am = httpx.get(f"{stack.alertmanager_url}/api/v2/alerts", timeout=10).json()
        assert any(ours(a) for a in am), "Alertmanager does not list the alert"
        (annotation,) = INFERENCE.annotations
        expr = substitute_variables(annotation.expr, rate_interval="1m")
        body = httpx.get(f"{stack.prometheus_url}/api/v1/query", params={"query": expr}).json()
        assert any(ours({"labels": r["metric"]}) for r in body["data"]["result"]), body

        # Placeable again: the replica starts, Prometheus resolves, the receiver hears it.
        fixed = copy.deepcopy(original)
        fixed["applications"].append(app_with_model_cpus(main, 0.1))
        cluster.deploy(fixed)
        resolved = stack.wait_for(
            lambda n: (
                n["status"] == "resolved"
                and any(ours(a) and a["status"] == "resolved" for a in n["alerts"])
            )
        )
        print(
            f"\n{ALERT} delivered to {firing['receiver']}; resolved "
            f"{resolved['received_at'] - firing['received_at']:.1f} s later"
        )
    finally:
        cluster.deploy(original)
