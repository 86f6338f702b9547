"""``deployments.app:build_app`` - the single import path of the Serve application.

The one module of the root package that binds the rooms together: the ingress and one
deployment per model, sized from their config or manifests.
"""

from typing import Any, cast

from ray.serve import Application, Deployment

from deployments.config import AppArgs
from deployments.ingress.deployment import Ingress
from deployments.model_manifest import ModelSpec
from deployments.models.embedding.deployment import EmbeddingModel
from deployments.models.generation.deployment import TextGenerator
from deployments.models.predictor.deployment import MultiplexedPredictor, TorchPredictor


def build_app(args: AppArgs) -> Application:
    """One deployment per model (named after it) behind one FastAPI ingress.

    The annotation must stay a real class (no postponed annotations in this module):
    Serve reads it to validate `args` from serve_config.yaml into AppArgs.
    """
    model = cast(Deployment, EmbeddingModel)  # @serve.deployment returns a Deployment
    models = {m.name: model.options(name=m.name).bind(m) for m in args.models}
    models |= bind_predictors(args)
    generator = cast(Deployment, TextGenerator)
    models |= {g.name: generator.options(name=g.name).bind(g) for g in args.generators}
    return cast(Deployment, Ingress).bind(args, models)


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
