"""Every documented error status, produced by the real cluster, with an OpenAI-style body."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.live_cluster import MODEL


def error_of(response: httpx.Response, status: int) -> dict[str, str]:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, str] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    return error


def post(client: httpx.Client, body: object, path: str = "/v1/embeddings") -> httpx.Response:
    return client.post(path, json=body)


@pytest.fixture
def tight(tight_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=tight_url, timeout=60) as c:
        yield c


def test_unknown_model_is_404(client: httpx.Client) -> None:
    error = error_of(post(client, {"input": "x", "model": "gpt-9"}), 404)
    assert error["code"] == "model_not_found" and error["param"] == "model"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": [], "model": MODEL}, "input"),
        ({"input": "", "model": MODEL}, "input"),
        ({"input": ["ok", ""], "model": MODEL}, "input"),
        ({"input": 42, "model": MODEL}, "input.str"),
        ({"input": [1, "a"], "model": MODEL}, "input.str"),  # token ids and text mixed
        ({"model": MODEL}, "input"),
        ({"input": "x"}, "model"),
        ({"input": "x", "model": MODEL, "encoding_format": "fp8"}, "encoding_format"),
        ({"input": "x", "model": MODEL, "dimensions": 128}, "dimensions"),
    ],
)
def test_invalid_input_is_422(client: httpx.Client, body: dict[str, object], param: str) -> None:
    error = error_of(post(client, body), 422)
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"


def test_malformed_json_is_422(client: httpx.Client) -> None:
    response = client.post(
        "/v1/embeddings", content=b'{"input": ', headers={"content-type": "application/json"}
    )
    assert "JSON" in error_of(response, 422)["message"]


def test_too_many_inputs_is_422(tight: httpx.Client) -> None:
    error = error_of(post(tight, {"input": ["a"] * 5, "model": MODEL}), 422)
    assert "at most 4" in error["message"]


def test_too_many_characters_is_422(tight: httpx.Client) -> None:
    error = error_of(post(tight, {"input": "x" * 201, "model": MODEL}), 422)
    assert "at most 200" in error["message"]


def test_too_many_tokens_without_truncation_is_422(tight: httpx.Client) -> None:
    words = " ".join(["word"] * 30)  # 32 tokens > max_seq_length 16
    error = error_of(post(tight, {"input": words, "model": MODEL}), 422)
    assert error["code"] == "input_too_long"


def test_body_too_large_is_413(tight: httpx.Client) -> None:
    # Valid fields alone cannot pass 2 KiB under these limits; unknown fields are ignored.
    body = {"input": "x", "model": MODEL, "padding": "p" * 3000}
    error = error_of(post(tight, body), 413)
    assert error["code"] == "payload_too_large"


def test_chunked_body_too_large_is_413(tight: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"model": "' + MODEL.encode() + b'", "input": ["'
        for _ in range(10):
            yield b"y" * 500
        yield b'"]}'

    response = tight.post(
        "/v1/embeddings", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    error_of(response, 413)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_non_json_body_is_415(
    client: httpx.Client, tight: httpx.Client, content_type: str | None
) -> None:
    body = b'{"input": "x", "model": "' + MODEL.encode() + b'"}'
    headers = {"content-type": content_type} if content_type else {}
    for c in (client, tight):
        response = c.post("/v1/embeddings", content=body, headers=headers)
        assert error_of(response, 415)["code"] == "unsupported_media_type"


def test_lone_surrogate_is_422_and_the_model_stays_healthy(client: httpx.Client) -> None:
    # Valid JSON, invalid Unicode: it must be the client's error, never a broken model.
    body = b'{"input": ["fine", "\\ud800"], "model": "' + MODEL.encode() + b'"}'
    response = client.post(
        "/v1/embeddings", content=body, headers={"content-type": "application/json"}
    )
    assert "not valid Unicode" in error_of(response, 422)["message"]
    assert client.get("/readyz").status_code == 200
    assert post(client, {"input": "still fine", "model": MODEL}).status_code == 200


def test_unknown_route_and_wrong_method_are_json(client: httpx.Client) -> None:
    error_of(client.get("/v1/nothing-here"), 404)
    error_of(client.get("/v1/embeddings"), 405)


def test_overload_is_fast_503_with_retry_after(tight_url: str) -> None:
    """One replica admitting one request and queueing one more: a burst must be shed."""

    async def burst() -> list[tuple[httpx.Response, float]]:
        async with httpx.AsyncClient(base_url=tight_url, timeout=60) as c:

            async def one(i: int) -> tuple[httpx.Response, float]:
                start = time.perf_counter()
                r = await c.post(
                    "/v1/embeddings", json={"input": [f"load {i}"] * 4, "model": MODEL}
                )
                return r, time.perf_counter() - start

            return await asyncio.gather(*(one(i) for i in range(40)))

    results = asyncio.run(burst())
    statuses = [r.status_code for r, _ in results]
    shed = [(r, t) for r, t in results if r.status_code == 503]
    shed_s = sorted(t for _, t in shed)
    median_ms = 1000 * shed_s[len(shed_s) // 2] if shed_s else float("nan")
    print(
        f"overload burst of 40: {statuses.count(200)} ok, {len(shed)} shed with 503, "
        f"median time to 503 {median_ms:.0f} ms"
    )
    assert set(statuses) <= {200, 503}
    assert shed and statuses.count(200) >= 2
    # Shed, not queued: 40 new connections at once cost 2 cores a few hundred ms of
    # accepting and parsing before any answer (seen: 320-450 ms on a busy box); the
    # shedding itself is timed by the sustained test below (p50 ~40 ms).
    assert median_ms < 1000
    for response, _ in shed:
        assert response.headers.get("retry-after", "").isdigit(), (response.headers, response.text)
        assert response.json()["error"]["code"] == "overloaded"


def test_sustained_overload_sheds_within_100_ms(tight_url: str) -> None:
    """While clients keep the model's one slot and one queue place full, every further
    request is answered 503 at once instead of waiting for a place.

    A burst of new connections (above) mostly measures how fast 2 cores accept 40
    connections at once; this measures the shedding itself, one request at a time.
    """

    async def overload() -> list[tuple[int, float]]:
        async with (
            httpx.AsyncClient(base_url=tight_url, timeout=60) as load,
            httpx.AsyncClient(base_url=tight_url, timeout=60) as probe,
        ):
            done = asyncio.Event()

            async def occupy() -> None:
                while not done.is_set():
                    await load.post(
                        "/v1/embeddings", json={"input": ["occupy " * 12] * 4, "model": MODEL}
                    )

            occupiers = [asyncio.create_task(occupy()) for _ in range(3)]
            await asyncio.sleep(0.5)
            answers = []
            for i in range(40):
                start = time.perf_counter()
                r = await probe.post("/v1/embeddings", json={"input": f"probe {i}", "model": MODEL})
                answers.append((r.status_code, time.perf_counter() - start))
                if r.status_code == 503:
                    assert int(r.headers["retry-after"]) == 3  # the tight app's retry_after_s
            done.set()
            await asyncio.gather(*occupiers)
            return answers

    answers = asyncio.run(overload())
    shed = sorted(seconds for status, seconds in answers if status == 503)
    assert {status for status, _ in answers} <= {200, 503}
    assert len(shed) >= 10, answers
    p50, p90 = 1000 * shed[len(shed) // 2], 1000 * shed[int(0.9 * (len(shed) - 1))]
    print(
        f"sustained overload: {len(shed)} of 40 probes shed; 503 p50 {p50:.0f} ms, p90 {p90:.0f} ms"
    )
    assert p50 < 100
