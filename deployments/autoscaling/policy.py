"""The SLO autoscaling policy for a model deployment: scale on the replicas' queue wait.

Ray Serve's default scales on ongoing requests per replica, which says nothing about
whether users wait. This one keeps the p95 of the inputs' wait inside the model replicas
(arrival to the start of their batch; ``deployments/queue_wait.py``) under a target set in
serve_config.yaml:

    autoscaling_config:
      min_replicas: 1
      max_replicas: 4
      upscale_delay_s: 5
      downscale_delay_s: 60
      metrics_interval_s: 2
      look_back_period_s: 10
      policy:
        policy_function: deployments.autoscaling.policy:QueueWaitPolicy
        policy_kwargs: {target_queue_wait_p95_s: 0.05}

Ray instantiates the class once per deployment in the Serve controller and calls it every
control-loop tick with an ``AutoscalingContext``; its ``aggregated_metrics`` carry what each
replica's ``record_autoscaling_stats`` returned, averaged over ``look_back_period_s``.
Ray's wrapper then applies ``upscale_delay_s`` / ``downscale_delay_s``, the scaling factors
and min/max replicas to the answer, as for its own policy. The decision itself is
``decision.decide`` (pure, unit-tested); without enough waits (idle, starting) this falls
back to Ray's default policy, so a quiet deployment still scales in. The inputs and
decisions are exported as ``ray_autoscaling_policy_*`` (deployments/metrics.py).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from ray.serve.autoscaling_policy import replica_queue_length_autoscaling_policy
from ray.serve.config import AutoscalingContext

from deployments.autoscaling.decision import QueueWaitTarget, decide
from deployments.metrics import autoscaling_policy_metrics
from deployments.queue_wait import QUEUE_WAIT_P95, QUEUE_WAIT_SAMPLES


class QueueWaitPolicyConfig(BaseModel):
    """``autoscaling_config.policy.policy_kwargs`` of QueueWaitPolicy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target_queue_wait_p95_s: float = Field(
        gt=0,
        description="Keep the p95 of inputs' wait inside the model replicas (arrival to the "
        "start of their batch) under this many seconds.",
    )
    scale_down_below: float = Field(
        default=0.8,
        gt=0,
        lt=1,
        description="Scale in only when one replica fewer would still keep the p95 under "
        "this fraction of the target (the hysteresis band).",
    )
    min_samples: int = Field(
        default=20,
        ge=1,
        description="Fewer waits than this in a replica's window: no signal, use Ray's "
        "default policy.",
    )
    max_step: float = Field(
        default=2.0,
        gt=1,
        description="Scale out by at most this factor per decision.",
    )

    def target(self) -> QueueWaitTarget:
        return QueueWaitTarget(
            target_p95_s=self.target_queue_wait_p95_s,
            scale_down_below=self.scale_down_below,
            min_samples=self.min_samples,
            max_step=self.max_step,
        )


class QueueWaitPolicy:
    """Class-callable Ray Serve autoscaling policy (Ray 2.60 ``AutoscalingPolicy``)."""

    def __init__(self, **policy_kwargs: Any) -> None:
        self.config = QueueWaitPolicyConfig.model_validate(policy_kwargs)
        self._target = self.config.target()

    def __call__(self, ctx: AutoscalingContext) -> tuple[float, dict[str, Any]]:
        metrics = ctx.aggregated_metrics or {}
        p95s = metrics.get(QUEUE_WAIT_P95) or {}
        # The worst replica: with balanced routing they are close, and the slowest is the
        # one whose users wait.
        p95 = max(p95s.values()) if p95s else None
        samples = sum((metrics.get(QUEUE_WAIT_SAMPLES) or {}).values())
        decision = decide(
            self._target,
            current=ctx.current_num_replicas,
            p95_s=p95,
            samples=samples,
            queued=ctx.total_queued_requests or 0.0,
            min_replicas=ctx.capacity_adjusted_min_replicas,
            max_replicas=ctx.capacity_adjusted_max_replicas,
        )
        if decision.replicas is None:
            desired, state = replica_queue_length_autoscaling_policy(ctx)
        else:
            desired, state = decision.replicas, {}
        autoscaling_policy_metrics().record(
            ctx.app_name or "",
            ctx.deployment_name,
            target_s=self._target.target_p95_s,
            p95_s=p95,
            desired=float(desired),
            own_signal=decision.replicas is not None,
        )
        return desired, state
