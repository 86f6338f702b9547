"""QueueWaitPolicy on Ray's own AutoscalingContext and AutoscalingConfig (real objects, built
the way the controller builds them): it reads the replicas' record_autoscaling_stats, falls
back to Ray's default policy without them, validates its kwargs, and loads through Ray's
AutoscalingPolicy by import path as serve_config.yaml names it."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from ray.serve._private.common import DeploymentID, ReplicaID
from ray.serve.autoscaling_policy import replica_queue_length_autoscaling_policy
from ray.serve.config import AutoscalingConfig, AutoscalingContext, AutoscalingPolicy

from deployments.autoscaling.policy import QueueWaitPolicy
from deployments.queue_wait import QUEUE_WAIT_P95, QUEUE_WAIT_SAMPLES

IMPORT_PATH = "deployments.autoscaling.policy:QueueWaitPolicy"
DEPLOYMENT = DeploymentID(name="all-MiniLM-L6-v2", app_name="embeddings")


def context(
    replicas: int, stats: dict[str, list[float]] | None, ongoing: float = 8
) -> AutoscalingContext:
    ids = [ReplicaID(unique_id=f"r{i}", deployment_id=DEPLOYMENT) for i in range(replicas)]
    aggregated = (
        {key: dict(zip(ids, values, strict=True)) for key, values in stats.items()}
        if stats is not None
        else None
    )
    config = AutoscalingConfig(min_replicas=1, max_replicas=4, target_ongoing_requests=2)
    return AutoscalingContext(
        deployment_id=DEPLOYMENT,
        deployment_name=DEPLOYMENT.name,
        app_name=DEPLOYMENT.app_name,
        current_num_replicas=replicas,
        target_num_replicas=replicas,
        running_replicas=ids,
        total_num_requests=ongoing,
        total_queued_requests=0.0,
        aggregated_metrics=aggregated,
        raw_metrics=None,
        capacity_adjusted_min_replicas=1,
        capacity_adjusted_max_replicas=4,
        policy_state={},
        last_scale_up_time=None,
        last_scale_down_time=None,
        current_time=None,
        config=config,
    )


def test_scales_on_the_worst_replica_queue_wait() -> None:
    policy = QueueWaitPolicy(target_queue_wait_p95_s=0.05)
    ctx = context(2, {QUEUE_WAIT_P95: [0.02, 0.09], QUEUE_WAIT_SAMPLES: [50, 50]})
    assert policy(ctx) == (4, {})  # 0.09 / 0.05 = 1.8 -> ceil(3.6)


def test_holds_inside_the_band_where_the_default_would_scale_in() -> None:
    policy = QueueWaitPolicy(target_queue_wait_p95_s=0.05)
    stats: dict[str, list[float]] = {QUEUE_WAIT_P95: [0.03, 0.03], QUEUE_WAIT_SAMPLES: [40, 40]}
    ctx = context(2, stats, ongoing=1)
    assert policy(ctx) == (2, {})
    # Ray's default asks for fewer: 1 ongoing request against a target of 2 per replica.
    assert replica_queue_length_autoscaling_policy(context(2, stats, ongoing=1))[0] < 2


@pytest.mark.parametrize(
    "stats",
    [
        None,
        {},
        {QUEUE_WAIT_SAMPLES: [0, 0]},
        {QUEUE_WAIT_P95: [0.5, 0.5], QUEUE_WAIT_SAMPLES: [3, 4]},
    ],
)
def test_falls_back_to_rays_default_without_enough_waits(
    stats: dict[str, list[float]] | None,
) -> None:
    policy = QueueWaitPolicy(target_queue_wait_p95_s=0.05)
    expected = replica_queue_length_autoscaling_policy(context(2, stats, ongoing=12))
    assert policy(context(2, stats, ongoing=12)) == expected
    assert expected[0] == 6  # 12 ongoing / 2 per replica


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"target_queue_wait_p95_s": 0}, {"target_queue_wait_p95_s": 0.05, "target": 1}],
)
def test_bad_policy_kwargs_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        QueueWaitPolicy(**kwargs)


def test_loads_by_import_path_as_serve_config_names_it() -> None:
    spec = AutoscalingPolicy(
        policy_function=IMPORT_PATH, policy_kwargs={"target_queue_wait_p95_s": 0.05}
    )
    assert not spec.is_default_policy_function()
    cls = spec.get_policy()
    policy = cls(**spec.policy_kwargs)
    assert isinstance(policy, QueueWaitPolicy)
    assert policy.config.target_queue_wait_p95_s == 0.05
