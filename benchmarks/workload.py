"""Synthetic texts, what loadgen sends, and latency/throughput summaries shared by the
benchmark tools.

Both loadgen.py and raw_model.py draw texts from here, so the in-process ceiling and the
HTTP numbers are measured over the same inputs (same token counts, same padding).
loadgen's request workload (``Workload``: URL, key, request bodies) and its sweep steps
(``Step``) are here too, shared by both of its engines (load_runner.py, wrk_runner.py).
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

# Plain lowercase English-ish words: each is one WordPiece token for MiniLM's vocabulary,
# so `words` is close to the token count the model sees (plus [CLS]/[SEP]).
_WORDS = (
    "the of and to in is was for on that with as by at from it this be are which or an "
    "have has not but were all one their they can more been time its also into new other "
    "some two may first these such would many then over after used year people most "
    "world state city water house school system group power market music model data"
)
_VOCAB = _WORDS.split()

PERCENTILES = (50, 90, 99)


def synthetic_texts(count: int, words: int, seed: int = 0) -> list[str]:
    """`count` distinct texts of exactly `words` words, deterministic for a seed."""
    rng = random.Random(seed)
    return [" ".join(rng.choices(_VOCAB, k=words)) for _ in range(count)]


DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_MODEL = "all-MiniLM-L6-v2"
PATH = "/v1/embeddings"
# Distinct payloads cycled through, so no cache anywhere sees one repeated body.
PAYLOAD_VARIANTS = 64


@dataclass
class Workload:
    url: str
    model: str
    api_key: str | None
    texts_per_request: int
    text_length: int
    timeout_s: float
    seed: int = 0

    def headers(self) -> dict[str, str]:
        h = {"content-type": "application/json"}
        if self.api_key:
            h["authorization"] = f"Bearer {self.api_key}"
        return h

    def bodies(self, salt: int) -> list[bytes]:
        texts = synthetic_texts(
            PAYLOAD_VARIANTS * self.texts_per_request, self.text_length, self.seed + salt
        )
        n = self.texts_per_request
        return [
            json.dumps({"input": texts[i * n : (i + 1) * n], "model": self.model}).encode()
            for i in range(PAYLOAD_VARIANTS)
        ]


@dataclass
class Step:
    """One point of a sweep: closed loop at `concurrency`, or open loop at `rate`."""

    mode: str  # "closed" | "open"
    concurrency: int = 0
    rate: float = 0.0
    duration_s: float | None = None
    requests: int | None = None
    warmup_s: float = 0.0
    max_inflight: int = 1024


def percentiles_ms(latencies_s: Iterable[float]) -> dict[str, float | None]:
    """p50/p90/p99 (plus mean, max) in milliseconds over every sample.

    Computed over the merged raw samples, never by averaging per-process percentiles
    (a mean of p99s is not a p99). numpy's default linear interpolation.
    """
    arr = np.fromiter(latencies_s, dtype=np.float64)
    keys = [f"p{p}_ms" for p in PERCENTILES] + ["mean_ms", "max_ms"]
    if arr.size == 0:
        return dict.fromkeys(keys)
    values = np.percentile(arr, PERCENTILES) * 1000.0
    out: dict[str, float | None] = {k: float(v) for k, v in zip(keys, values, strict=False)}
    out["mean_ms"] = float(arr.mean() * 1000.0)
    out["max_ms"] = float(arr.max() * 1000.0)
    return out


def summarize(
    latencies_s: Iterable[float],
    statuses: Mapping[str, int],
    elapsed_s: float,
    items_per_request: int,
) -> dict[str, Any]:
    """One step's numbers. Throughput counts successful (2xx) requests only, so a server
    that answers 503 fast cannot look fast; latency percentiles are over successes too,
    and the errors are reported by status beside them."""
    counts = Counter(statuses)
    ok = sum(n for s, n in counts.items() if s.isdigit() and 200 <= int(s) < 300)
    total = sum(counts.values())
    rate = ok / elapsed_s if elapsed_s > 0 else 0.0
    return {
        "requests": total,
        "ok": ok,
        "errors": {s: n for s, n in sorted(counts.items()) if not (s.isdigit() and s[0] == "2")},
        "elapsed_s": elapsed_s,
        "req_per_s": rate,
        "items_per_s": rate * items_per_request,
        **percentiles_ms(latencies_s),
    }


# Server-Timing stages the app sends (deployments/ingress/server_timing.py), in milliseconds.
_TIMING = re.compile(r"([A-Za-z_]+);dur=([0-9.]+)")


class Stage(NamedTuple):
    span: str  # the stamp (or `client`, the client's own latency) it is cut from
    nested: tuple[str, ...]  # the stamps inside that span, which are stages of their own
    label: str  # its row in RESULTS.md


# Each request's latency, cut at the stamps the server sends: a stage is its span less
# the spans nested in it. In the order a request meets them.
STAGES: dict[str, Stage] = {
    "http": Stage("client", ("app",), "client, HTTP, HAProxy, Serve's ASGI wrapper"),
    "ingress": Stage("app", ("call",), "ingress app: auth, validation, rendering"),
    "slot": Stage("slot", (), "waiting in the ingress for a model call slot"),
    "hop": Stage(
        "call", ("slot", "replica"), "Ray handle hop: router, gRPC both ways, replica wrapper"
    ),
    "replica": Stage(
        "replica", ("queue", "forward"), "model replica's own code (batching, results)"
    ),
    "queue": Stage("queue", (), "waiting for a batch"),
    "forward": Stage("forward", (), "forward pass, tokenization included"),
}


# Stamps an answer may lack, counted as 0: only coalesced calls wait for a slot.
OPTIONAL_SPANS = {"slot"}


def parse_server_timing(header: str | None) -> dict[str, float]:
    """``Server-Timing`` as {name: ms}; empty if absent."""
    return {k: float(v) for k, v in _TIMING.findall(header or "")}


def stage_breakdown(samples: Iterable[Mapping[str, float]]) -> dict[str, float] | None:
    """Median milliseconds per stage over requests that carried every stamp, plus the
    median client latency of those requests (`client`) and how many they were (`n`)."""
    needed = {stage.span for stage in STAGES.values()} - OPTIONAL_SPANS
    rows = [{**dict.fromkeys(OPTIONAL_SPANS, 0.0), **r} for r in samples if needed <= r.keys()]
    if not rows:
        return None
    out = {
        name: float(np.median([r[span] - sum(r[n] for n in nested) for r in rows]))
        for name, (span, nested, _) in STAGES.items()
    }
    out["client"] = float(np.median([r["client"] for r in rows]))
    out["n"] = float(len(rows))
    return out
