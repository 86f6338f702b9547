"""``deployments.app:build_app`` — the single import path of the Serve application."""

from typing import cast

from ray.serve import Application, Deployment

from deployments.config import AppArgs
from deployments.embedding_model import EmbeddingModel
from deployments.generator import TextGenerator
from deployments.ingress import Ingress
from deployments.predictor_app import bind_predictors


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
