"""POST /v1/completions on the real cluster: OpenAI's format, streamed as Server-Sent
Events, with max_tokens, stop sequences, seeds, errors, deadlines and disconnects.

The served model is tests' tiny random GPT-2 (serve_config.yaml's demo generator): its
text is gibberish, but greedy or seeded decoding makes it deterministic.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import re
import subprocess
import sys
from typing import Any

import httpx
import pytest

from tests.support.generation import (
    chunks_of,
    completion,
    settled,
    sse_data,
    stream_events,
    wait_for,
)
from tests.support.live_cluster import GENERATOR, MODEL, ROOT, LiveCluster, deployment
from tests.support.scrape import total

GREEDY: dict[str, Any] = {"temperature": 0, "max_tokens": 12}
# Greedy decoding from this prompt repeats one whole word: a visible delta per token.
LONG_PROMPT = "The quick brown fox"
SEEDED: dict[str, Any] = {
    "temperature": 1.0,
    "seed": 0,
    "max_tokens": 16,
    "prompt": "Once upon a time",
}


def test_non_stream_response_and_usage(client: httpx.Client) -> None:
    r = completion(client, **GREEDY)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["object"] == "text_completion" and body["model"] == GENERATOR
    assert body["id"].startswith("cmpl-") and isinstance(body["created"], int)
    (choice,) = body["choices"]
    assert set(choice) == {"text", "index", "logprobs", "finish_reason"}
    assert choice["index"] == 0 and choice["logprobs"] is None and choice["text"]
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_sse_format(client: httpx.Client) -> None:
    payload = {"model": GENERATOR, "prompt": "Hello world", "stream": True, **GREEDY}
    with client.stream("POST", "/v1/completions", json=payload) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = r.read().decode()
    # Every event is one `data:` line followed by a blank line.
    assert raw.endswith("data: [DONE]\n\n")
    events = list(sse_data(iter(raw.split("\n"))))
    chunks = chunks_of(events)
    assert len(chunks) >= 2
    assert len({c["id"] for c in chunks}) == 1
    for c in chunks:
        assert c["object"] == "text_completion" and c["model"] == GENERATOR
        assert isinstance(c["created"], int) and "usage" not in c
        (choice,) = c["choices"]
        assert set(choice) == {"text", "index", "logprobs", "finish_reason"}
        assert choice["logprobs"] is None and choice["index"] == 0
    reasons = [c["choices"][0]["finish_reason"] for c in chunks]
    assert reasons[-1] == "length" and set(reasons[:-1]) == {None}


@pytest.mark.parametrize("params", [GREEDY, SEEDED], ids=["greedy", "seeded"])
def test_streamed_text_equals_non_streamed(client: httpx.Client, params: dict) -> None:
    whole = completion(client, **params).json()["choices"][0]
    again = completion(client, **params).json()["choices"][0]
    assert again == whole, "greedy/seeded decoding must be reproducible"
    _, events = stream_events(client, **params)
    chunks = chunks_of(events)
    assert "".join(c["choices"][0]["text"] for c in chunks) == whole["text"]
    assert chunks[-1]["choices"][0]["finish_reason"] == whole["finish_reason"]


@pytest.mark.parametrize("max_tokens", [1, 5, 40])
def test_max_tokens_is_honoured(client: httpx.Client, max_tokens: int) -> None:
    r = completion(client, temperature=0, max_tokens=max_tokens)
    body = r.json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == max_tokens


def test_default_max_tokens(client: httpx.Client) -> None:
    body = completion(client, temperature=0).json()
    assert body["usage"]["completion_tokens"] == 16  # serve_config.yaml's default_max_tokens


def test_stop_sequences_are_honoured_and_not_returned(client: httpx.Client) -> None:
    first = completion(client, **SEEDED).json()["choices"][0]
    text = first["text"]
    # A run of letters from the middle of the text, so the stop spans several tokens.
    match = re.search(r"[A-Za-z]{3,}", text[3:])
    assert match, f"no stop candidate in {text!r}"
    stop = match.group(0)
    expected = text[: text.find(stop)]
    for stops in (stop, [stop], ["\x00never", stop]):
        body = completion(client, **SEEDED, stop=stops).json()
        (choice,) = body["choices"]
        assert choice["text"] == expected, (stops, text)
        assert choice["finish_reason"] == "stop"
        assert body["usage"]["completion_tokens"] < SEEDED["max_tokens"]
    _, events = stream_events(client, **SEEDED, stop=stop)
    chunks = chunks_of(events)
    assert "".join(c["choices"][0]["text"] for c in chunks) == expected
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_seed_changes_sampled_text(client: httpx.Client) -> None:
    texts = {
        completion(client, **SEEDED | {"seed": s}).json()["choices"][0]["text"] for s in range(3)
    }
    assert len(texts) == 3


def test_prompt_as_list_of_one_and_unknown_fields(client: httpx.Client) -> None:
    plain = completion(client, **GREEDY).json()["choices"][0]["text"]
    r = completion(
        client, **GREEDY | {"prompt": ["Hello world"]}, user="u1", echo=False, best_of=1, frob=3
    )
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["text"] == plain


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 2}, "n"),
        ({"prompt": ["a", "b"]}, "prompt"),
        ({"prompt": [1, 2, 3]}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stop": [""]}, "stop"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 1025}, "max_tokens"),
        ({"temperature": 3}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"seed": -1}, "seed"),
        ({"stream": "maybe"}, "stream"),
        # Tokens are counted in the replica: still a JSON 422, since no stream started.
        ({"prompt": "word " * 600}, "prompt"),
    ],
)
def test_bad_fields_are_422(client: httpx.Client, extra: dict, param: str) -> None:
    for stream in (False, True):
        r = completion(client, **{"stream": stream} | extra)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/json")
        error = r.json()["error"]
        assert error["param"] is not None and error["param"].startswith(param), error


def test_unknown_model_and_wrong_kind_are_404(client: httpx.Client) -> None:
    for model in ("no-such-model", MODEL):
        r = client.post("/v1/completions", json={"model": model, "prompt": "hi"})
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "model_not_found"
    r = client.post("/v1/embeddings", json={"model": GENERATOR, "input": "hi"})
    assert r.status_code == 404, r.text
    assert "generator" in r.json()["error"]["message"]


def test_credentials_required(anonymous: httpx.Client) -> None:
    r = completion(anonymous, stream=True)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "missing_credentials"


def test_listed_as_generator(client: httpx.Client) -> None:
    card = client.get(f"/v1/models/{GENERATOR}").json()
    assert card["kind"] == "generator" and card["ready"] is True
    assert card["contract"]["max_tokens_per_input"] == 512


def test_deadline_before_and_during_the_stream(client: httpx.Client) -> None:
    long = {"prompt": LONG_PROMPT, "temperature": 0, "max_tokens": 1000}
    # Too short to accept the prompt: a plain JSON 504.
    r = client.post(
        "/v1/completions",
        json={"model": GENERATOR, "stream": True, **long},
        headers={"X-Request-Timeout-Ms": "1"},
    )
    assert r.status_code == 504 and r.json()["error"]["code"] == "deadline_exceeded"
    # Long enough to start, too short for 1000 tokens (~1 s on an idle box): the stream
    # ends with an error event.
    payload = {"model": GENERATOR, "stream": True, **long}
    with client.stream(
        "POST", "/v1/completions", json=payload, headers={"X-Request-Timeout-Ms": "400"}
    ) as r:
        assert r.status_code == 200
        events = list(sse_data(r.iter_lines()))
    assert events[-1] == "[DONE]"
    error = httpx.Response(200, content=events[-2]).json()["error"]
    assert error["code"] == "deadline_exceeded" and error["type"] == "timeout_error"
    assert len(events) - 2 < 1000


def test_disconnect_stops_generation(cluster: LiveCluster) -> None:
    max_tokens = 1000
    before = settled(cluster)
    payload = {"model": GENERATOR, "prompt": LONG_PROMPT, "stream": True}
    payload |= {"temperature": 0, "max_tokens": max_tokens}
    client = httpx.Client(base_url=cluster.base_url, headers=cluster.auth_headers(), timeout=60)
    with client, client.stream("POST", "/v1/completions", json=payload) as r:
        assert r.status_code == 200
        received = 0
        for _ in sse_data(r.iter_lines()):
            received += 1
            if received == 3:
                break  # leaving the block closes the connection mid-stream

    def delta(samples: dict, name: str, **labels: str) -> float:
        return total(samples, name, **labels) - total(before, name, **labels)

    after = wait_for(
        cluster, lambda s: delta(s, "ray_generation_cancelled_total", model=GENERATOR) >= 1
    )
    after = settled(cluster, quiet_s=6)
    assert delta(after, "ray_generation_cancelled_total", model=GENERATOR) == 1
    assert (
        delta(after, "ray_generation_requests_total", model=GENERATOR, finish_reason="cancelled")
        == 1
    )
    generated = delta(after, "ray_generation_tokens_total", model=GENERATOR)
    print(f"disconnected after {received} events; the replica generated {generated:g} tokens")
    assert 3 <= generated < max_tokens / 4


def test_metrics_are_exported(cluster: LiveCluster, client: httpx.Client) -> None:
    before = settled(cluster)
    for _ in range(3):
        assert completion(client, temperature=0, max_tokens=4).status_code == 200
    after = wait_for(
        cluster,
        lambda s: (
            total(s, "ray_generation_tokens_total") - total(before, "ray_generation_tokens_total")
            >= 12
        ),
    )
    d = {
        name: total(after, name, model=GENERATOR) - total(before, name, model=GENERATOR)
        for name in (
            "ray_generation_tokens_total",
            "ray_generation_prompt_tokens_total",
            "ray_generation_time_to_first_token_seconds_count",
        )
    }
    length = total(after, "ray_generation_requests_total", finish_reason="length") - total(
        before, "ray_generation_requests_total", finish_reason="length"
    )
    assert d["ray_generation_tokens_total"] == 12
    assert d["ray_generation_prompt_tokens_total"] > 0
    assert d["ray_generation_time_to_first_token_seconds_count"] == 3
    assert length == 3


def test_readme_streaming_examples(cluster: LiveCluster) -> None:
    """The curl -N and openai examples of README.md's "Streaming completions" run as shown."""
    section = (ROOT / "README.md").read_text().split("## Streaming completions", 1)[1]
    section = section.split("\n## ", 1)[0]
    port = f"127.0.0.1:{cluster.http_port}"
    bash = re.search(r"```bash\n(.*?)```", section, re.S)
    assert bash
    commands = [c.strip() for c in bash.group(1).replace("\\\n", " ").splitlines()]
    env = os.environ | {"API_KEY": cluster.keys["admin"]}
    outputs = [
        subprocess.run(
            ["bash", "-c", c.replace("127.0.0.1:8000", port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env=env,
        ).stdout
        for c in commands
        if c.startswith("curl ")
    ]
    streamed, whole = outputs
    events = list(sse_data(iter(streamed.split("\n"))))
    chunks = chunks_of(events)
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert json.loads(whole)["usage"]["completion_tokens"] == 8
    python = re.search(r"```python\n(.*?)```", section, re.S)
    assert python
    code = f"API_KEY = {cluster.keys['admin']!r}\n" + python.group(1).replace(
        "127.0.0.1:8000", port
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert GENERATOR in done.stdout and "CompletionUsage" in done.stdout


def generator_only_app(main_app: dict[str, Any], name: str) -> dict[str, Any]:
    """The main app's generator alone, admitting one generation and queueing one more."""
    app = copy.deepcopy(main_app)
    app.update(name=name, route_prefix=f"/{name}")
    app["args"] |= {"models": [], "auth": {"enabled": False}, "rate_limits": {"default": None}}
    app["args"]["limits"] = {"retry_after_s": 2}
    ingress = deployment(app, "Ingress")
    ingress.pop("autoscaling_config")
    ingress.update(num_replicas=1, ray_actor_options={"num_cpus": 0.05})
    gen = deployment(app, GENERATOR)
    gen.update(max_ongoing_requests=1, max_queued_requests=1)
    gen.update(ray_actor_options={"num_cpus": 0.05})
    app["deployments"] = [ingress, gen]
    return app


def test_overload_is_503_before_the_stream(cluster: LiveCluster) -> None:
    app = generator_only_app(cluster.config["applications"][0], "genoverload")
    payload = {"model": GENERATOR, "prompt": LONG_PROMPT, "stream": True}
    payload |= {"temperature": 0, "max_tokens": 1000}

    async def attempt(client: httpx.AsyncClient) -> tuple[int, httpx.Headers, bytes]:
        async with client.stream("POST", "/v1/completions", json=payload) as r:
            if r.status_code != 200:
                return r.status_code, r.headers, await r.aread()
            async for _ in r.aiter_lines():
                break
            await asyncio.sleep(1.0)  # hold the replica while the others arrive
            return 200, r.headers, b""

    async def attempts(url: str) -> list[tuple[int, httpx.Headers, bytes]]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            return await asyncio.gather(*(attempt(client) for _ in range(4)))

    with cluster.extra_app(app) as url:
        results = asyncio.run(attempts(url))
        statuses = sorted(status for status, _, _ in results)
        # One generating, one queued: the others are shed at once, as JSON before any stream.
        assert statuses.count(503) >= 2 and statuses.count(200) >= 1, statuses
        for status, headers, body in results:
            if status == 503:
                assert headers["retry-after"] == "2"
                assert headers["content-type"].startswith("application/json")
                assert httpx.Response(503, content=body).json()["error"]["code"] == "overloaded"
        # Closing the streams freed the replica: it serves again.
        r = httpx.post(
            f"{url}/v1/completions", json=payload | {"stream": False, "max_tokens": 4}, timeout=60
        )
        assert r.status_code == 200, r.text
