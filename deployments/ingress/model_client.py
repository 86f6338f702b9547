"""The ingress's client of the model deployments: one DeploymentHandle per model.

Every call to a model goes through here, and this is the one place where Ray's exceptions
become domain errors (``ray_errors_as_domain``): overload, no replica, a replica lost, an
error raised inside the model. Deadlines and client disconnects cancel the model's work.
The routes reach the replica's one ModelClient as the ``Models`` dependency.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, Request
from ray.exceptions import RayActorError, RayTaskError
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError
from ray.serve.handle import DeploymentHandle, DeploymentResponse

from deployments.config import AppArgs, EmbeddingModelArgs, GeneratorArgs
from deployments.contracts import EmbedInput, EmbedResult, ModelInfo, ModelKind, PredictResult
from deployments.errors import (
    DeadlineExceededError,
    ModelNotFoundError,
    ModelUnavailableError,
    OverloadedError,
    ServingError,
)
from deployments.ingress.call_coalescer import CallCoalescer, LineFull
from deployments.ingress.request_context import RequestContext
from deployments.metrics import CallMetrics
from deployments.security.access_control import AccessControl
from deployments.security.principal import Principal

logger = logging.getLogger("ray.serve")

# One request's part of a coalesced call: its result, or its own bad input.
EmbedAnswer = EmbedResult | Exception


@contextmanager
def ray_errors_as_domain(model: str, retry_after_s: int, lost_replica: str) -> Iterator[None]:
    """Inside, a call to ``model``'s deployment: Ray's exceptions leave as domain errors
    (``lost_replica`` is the message for a replica that died under the call)."""
    try:
        yield
    except RayTaskError as e:
        # Raised inside the replica; a domain error (bad input the model found) is the
        # client's to see, anything else stays an internal error.
        if isinstance(e.cause, ServingError):
            raise e.cause from None
        raise
    except BackPressureError:
        # Translated here: Serve installs its own handler for BackPressureError in the
        # FastAPI app, which would answer in plain text without Retry-After.
        raise OverloadedError(
            f"model {model} is at capacity; retry later", retry_after_s=retry_after_s
        ) from None
    except DeploymentUnavailableError:
        raise ModelUnavailableError(f"model {model} has no running replica") from None
    except RayActorError:
        raise ModelUnavailableError(lost_replica) from None


class ModelClient:
    def __init__(
        self, args: AppArgs, models: dict[str, DeploymentHandle], access: AccessControl
    ) -> None:
        self.args = args
        self.limits = args.limits
        # Models sharing a multiplexed deployment are told apart by multiplexed_model_id,
        # which also routes each to a replica that has it loaded, when there is one.
        multiplexed = {spec.name for group in args.multiplexed for spec in group.specs}
        self.models = {
            name: handle.options(multiplexed_model_id=name) if name in multiplexed else handle
            for name, handle in models.items()
        }
        self.access = access
        self.kinds = args.model_kinds()
        self.owned_by = {m.name: m.owned_by for m in args.models}
        self.owned_by |= {s.name: s.manifest.owned_by for s in args.predictor_specs()}
        self.owned_by |= {g.name: g.owned_by for g in args.generators}
        self.created = int(time.time())
        self.generators: dict[str, GeneratorArgs] = {g.name: g for g in args.generators}
        self._dimensions: dict[str, int] = {}
        self._coalescers = {
            m.name: self._embed_coalescer(m, m.max_calls_in_flight)
            for m in args.models
            if m.max_calls_in_flight is not None and m.name in self.models
        }

    def admit(
        self, caller: Principal, model: str, kind: ModelKind, context: RequestContext
    ) -> DeploymentHandle:
        """``model``'s handle for ``caller``, on a route that serves ``kind`` models, with the
        request labelled by it (metrics). 403 before 404, so a key scoped to some models
        cannot probe which others exist."""
        caller.require_model(model)
        handle = self.handle(model, kind)
        context.serve_model(model, kind)
        return handle

    def handle(self, model: str, kind: ModelKind | None = None) -> DeploymentHandle:
        """The model's deployment; 404 if it is not served (as a ``kind`` model, if given)."""
        found = self.models.get(model)
        if found is None:
            raise ModelNotFoundError(
                f"model {model!r} is not served; see GET /v1/models", param="model"
            )
        if kind is not None and self.kinds[model] != kind:
            raise ModelNotFoundError(
                f"model {model!r} is a {self.kinds[model]} model; this route serves "
                f"{kind} models (see GET /v1/models)",
                param="model",
            )
        return found

    def _embed_coalescer(
        self, spec: EmbeddingModelArgs, max_calls: int
    ) -> CallCoalescer[list[EmbedInput], EmbedResult]:
        handle = self.models[spec.name]

        async def send(requests: list[list[EmbedInput]], timeout_s: float) -> list[EmbedAnswer]:
            # The call's budget (the latest deadline among its requests) goes with each:
            # the replica drops inputs still queued past it, never one a caller still waits for.
            budgets = [timeout_s] * len(requests)
            answers: list[EmbedAnswer] = await self.call(
                spec.name, lambda: handle.embed_many.remote(requests, budgets), timeout_s
            )
            return answers

        return CallCoalescer(
            send,
            max_in_flight=max_calls,
            max_items=spec.max_inputs_per_call,
            max_waiting=spec.max_waiting_requests,
            size=len,
            on_call=CallMetrics(spec.name, "embedding").record_call,
        )

    async def embed(
        self, model: str, inputs: Sequence[EmbedInput], timeout_s: float
    ) -> EmbedResult:
        """The model's answer within ``timeout_s``; past it the model's work is cancelled."""
        texts = list(inputs)
        handle = self.handle(model, "embedding")
        coalescer = self._coalescers.get(model)
        if coalescer is None:
            result: EmbedResult = await self.call(
                model, lambda: handle.embed.remote(texts, timeout_s), timeout_s
            )
            result.slot_s = 0.0  # sent at once: no slot to wait for
            return result
        try:
            result, waited_s = await coalescer.submit(texts, timeout_s)
            result.slot_s = waited_s
            return result
        except TimeoutError:
            raise self._deadline_exceeded(model) from None
        except LineFull:
            raise self._overloaded(model) from None

    async def predict(
        self, model: str, inputs: list[np.ndarray], timeout_s: float
    ) -> PredictResult:
        """A predictor's answer within ``timeout_s``; past it the model's work is cancelled."""
        handle = self.handle(model, "predictor")
        result: PredictResult = await self.call(
            model, lambda: handle.predict.remote(inputs), timeout_s
        )
        return result

    async def call(self, model: str, send: Callable[[], Any], timeout_s: float) -> Any:
        """``send()``'s answer within ``timeout_s``, with the model's failures mapped to
        domain errors; ``send`` must be idempotent (it is retried once)."""
        response: DeploymentResponse = send()
        try:
            with ray_errors_as_domain(
                model, self.limits.retry_after_s, f"model {model} lost its replica twice; retry"
            ):
                async with asyncio.timeout(timeout_s):
                    try:
                        return await response
                    except RayActorError as e:
                        # The replica died mid-request (killed, OOM, node lost): Ray raises
                        # ActorDiedError, or ActorUnavailableError while it cannot tell,
                        # both RayActorErrors. The router has already dropped that replica,
                        # and model calls are idempotent, so one retry within the same
                        # deadline is safe; a second death in a row is reported as 503.
                        logger.warning(
                            "model %s replica died mid-request, retrying once: %s", model, e
                        )
                        response = send()
                        return await response
        except TimeoutError:
            # Cancelling the response reaches the model replica: chunks still waiting for
            # a batch are dropped instead of computed for nobody.
            response.cancel()
            raise self._deadline_exceeded(model) from None
        except asyncio.CancelledError:
            # The client went away (Serve cancels this handler); stop the model's work too.
            response.cancel()
            raise

    def _deadline_exceeded(self, model: str) -> DeadlineExceededError:
        return DeadlineExceededError(
            f"model {model} did not answer before the request's deadline; its work was cancelled"
        )

    def _overloaded(self, model: str) -> OverloadedError:
        return OverloadedError(
            f"model {model} is at capacity; retry later", retry_after_s=self.limits.retry_after_s
        )

    async def info(self, model: str) -> ModelInfo:
        info: ModelInfo = await asyncio.wait_for(
            self.handle(model).info.remote(), self.limits.ready_timeout_s
        )
        if info.dimensions is not None:
            self._dimensions[model] = info.dimensions
        return info

    async def dimensions(self, model: str) -> int:
        if model not in self._dimensions:
            await self.info(model)
        return self._dimensions[model]

    async def probe(self, model: str) -> ModelInfo | None:
        """The model's info, or None if it did not answer in time."""
        try:
            return await self.info(model)
        except Exception:
            return None


async def _model_client(request: Request) -> ModelClient:  # async: see middleware.access
    client: ModelClient = request.app.state.model_client
    return client


# The replica's ModelClient, set on its FastAPI app by ingress.deployment.create_app.
Models = Annotated[ModelClient, Depends(_model_client)]
