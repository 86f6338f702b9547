"""Constant closed-loop HTTP load in a background thread, for tests that change the
cluster (deploy, kill, scale) while requests flow and then count what failed."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from tests.support.live_cluster import MODEL


@dataclass
class Outcome:
    started: float  # time.monotonic()
    finished: float
    status: int  # 0: no HTTP answer (connection reset, timeout)
    error: str = ""


@dataclass
class Load:
    """`concurrency` workers, each sending one embeddings request after the other."""

    url: str
    concurrency: int = 4
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 30
    inputs: int = 1  # texts per request; more makes each model call last longer
    outcomes: list[Outcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._lock = threading.Lock()

    async def _worker(self, client: httpx.AsyncClient, n: int) -> None:
        i = 0
        while not self._stop.is_set():
            i += 1
            texts = [f"worker {n} request {i} text {j} " * 8 for j in range(self.inputs)]
            body: dict[str, Any] = {"input": texts, "model": MODEL}
            started = time.monotonic()
            try:
                r = await client.post("/v1/embeddings", json=body)
                ok = r.status_code == 200 and len(r.json()["data"]) == self.inputs
                outcome = Outcome(started, time.monotonic(), r.status_code, "" if ok else r.text)
            except httpx.HTTPError as e:
                outcome = Outcome(started, time.monotonic(), 0, repr(e))
            with self._lock:
                self.outcomes.append(outcome)

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=self.concurrency)
        async with httpx.AsyncClient(
            base_url=self.url, headers=self.headers, timeout=self.timeout_s, limits=limits
        ) as client:
            await asyncio.gather(*(self._worker(client, n) for n in range(self.concurrency)))

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=self.timeout_s + 10)

    def snapshot(self) -> list[Outcome]:
        with self._lock:
            return list(self.outcomes)

    def failed(self) -> list[Outcome]:
        return [o for o in self.snapshot() if o.status != 200 or o.error]

    def in_flight_rate(self, since: float) -> float:
        """Successful answers per second since `since` (monotonic)."""
        done = [o for o in self.snapshot() if o.finished >= since and o.status == 200]
        return len(done) / max(time.monotonic() - since, 1e-6)

    def summary(self) -> str:
        outcomes = self.snapshot()
        failed = self.failed()
        codes: dict[int, int] = {}
        for o in failed:
            codes[o.status] = codes.get(o.status, 0) + 1
        return f"failed/total = {len(failed)}/{len(outcomes)} (by status: {codes})"
