"""Binds the model-repository deployments of AppArgs, sized from their manifests."""

from __future__ import annotations

from typing import Any, cast

from ray.serve import Application, Deployment

from deployments.config import AppArgs
from deployments.model_manifest import ModelSpec
from deployments.predictor import MultiplexedPredictor, TorchPredictor


def deployment_options(spec: ModelSpec) -> dict[str, Any]:
    """Serve options from a manifest's resources and batching."""
    res = spec.manifest.resources
    scaling = res.autoscaling
    return {
        "ray_actor_options": {"num_cpus": res.num_cpus, "num_gpus": res.num_gpus},
        "max_ongoing_requests": res.max_ongoing_requests,
        "autoscaling_config": {
            "min_replicas": scaling.min_replicas,
            "max_replicas": scaling.max_replicas,
            "target_ongoing_requests": scaling.target_ongoing_requests,
        },
        "user_config": spec.manifest.batching.model_dump(),
    }


def bind_predictors(args: AppArgs) -> dict[str, Application]:
    """Model id -> bound deployment; every model of a multiplexed group maps to the
    group's one deployment (the ingress picks the model with multiplexed_model_id)."""
    bound: dict[str, Application] = {}
    single = cast(Deployment, TorchPredictor)  # @serve.deployment returns a Deployment
    for p in args.predictors:
        bound[p.spec.name] = single.options(name=p.spec.name, **deployment_options(p.spec)).bind(
            p.spec
        )
    shared = cast(Deployment, MultiplexedPredictor)
    for group in args.multiplexed:
        # Sized by the largest member: any replica may have to load any of them.
        options = deployment_options(group.specs[0])
        options["ray_actor_options"] = {
            "num_cpus": max(s.manifest.resources.num_cpus for s in group.specs),
            "num_gpus": max(s.manifest.resources.num_gpus for s in group.specs),
        }
        app = shared.options(name=group.name, **options).bind(
            group.name, group.specs, group.max_models_per_replica
        )
        bound |= {spec.name: app for spec in group.specs}
    return bound
