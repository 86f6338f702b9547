"""Ray's exceptions from a model call become domain errors in one place, and so the HTTP
answers a client sees (status, code, Retry-After) no matter which route made the call."""

from __future__ import annotations

import orjson
import pytest
from ray.exceptions import ActorDiedError, RayTaskError
from ray.serve._private.common import DeploymentID
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError

from deployments.errors import (
    InputTooLongError,
    ModelUnavailableError,
    OverloadedError,
    ServingError,
)
from deployments.ingress.middleware.errors import response_for
from deployments.ingress.model_client import ray_errors_as_domain


def translated(exc: BaseException) -> BaseException:
    with pytest.raises(BaseException) as raised, ray_errors_as_domain("m", 7, "lost it"):
        raise exc
    return raised.value


def test_backpressure_is_overload_with_retry_after() -> None:
    error = translated(BackPressureError(num_queued_requests=3, max_queued_requests=2))
    assert isinstance(error, OverloadedError)
    response = response_for(error)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "7"
    assert orjson.loads(response.body)["error"]["code"] == "overloaded"


def test_no_replica_and_a_lost_replica_are_unavailable() -> None:
    gone = translated(DeploymentUnavailableError(DeploymentID(name="m", app_name="default")))
    assert isinstance(gone, ModelUnavailableError)
    assert "no running replica" in gone.message
    died = translated(ActorDiedError())
    assert isinstance(died, ModelUnavailableError)
    assert died.message == "lost it"
    assert response_for(died).status_code == 503


def test_an_error_the_model_raised_reaches_the_client_as_itself() -> None:
    cause = InputTooLongError("input 0 has 600 tokens")
    wrapped = RayTaskError("embed", "Traceback ...", cause).as_instanceof_cause()
    error = translated(wrapped)
    assert error is cause
    body = orjson.loads(response_for(error).body)["error"]
    assert (body["code"], body["message"]) == ("input_too_long", "input 0 has 600 tokens")


def test_a_model_crash_stays_an_internal_error() -> None:
    wrapped = RayTaskError("embed", "Traceback ...", RuntimeError("CUDA error"))
    error = translated(wrapped)
    assert isinstance(error, RayTaskError) and not isinstance(error, ServingError)
    response = response_for(error)
    assert response.status_code == 500
    assert b"CUDA" not in bytes(response.body)
