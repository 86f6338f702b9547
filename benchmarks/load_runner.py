"""loadgen's Python engine: closed and open loop over asyncio clients in spawned processes.

``run_step`` runs one sweep step on ``processes`` OS processes, each one asyncio event loop
with one aiohttp session; workers (or the arrival rate) are split evenly between them and
the raw latency samples are merged in the parent before percentiles are taken.

* closed loop: N workers, each sends its next request as soon as the previous one answers.
* open loop: Poisson arrivals at R req/s whatever the server does; latency is measured from
  each request's *scheduled* arrival (no coordinated omission), and arrivals over
  ``max_inflight`` are counted as ``dropped``.

Each step's ``client_cpu`` is the CPU seconds the client processes used divided by (wall
time x processes): near 100% means the client, not the server, set the numbers.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing as mp
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks.replica_metrics import healthy_replicas
from benchmarks.workload import (
    PATH,
    Step,
    Workload,
    parse_server_timing,
    stage_breakdown,
    summarize,
)

# Server-Timing samples kept per client process (the stage medians need no more).
MAX_STAGE_SAMPLES = 20_000


@dataclass
class Shard:
    """What one client process does and what it brings back."""

    index: int
    workers: int = 0
    rate: float = 0.0
    requests: int | None = None
    latencies: list[float] = field(default_factory=list)
    # Server-Timing stages (ms) of some successful requests, with their client latency.
    stages: list[dict[str, float]] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    first_start: float = math.inf
    last_end: float = 0.0
    cpu_s: float = 0.0


def split(total: int, parts: int) -> list[int]:
    """`total` as `parts` near-equal non-negative integers."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


# --------------------------------------------------------------------- client process


class _Recorder:
    def __init__(self, shard: Shard, measure_from: float, progress: Any) -> None:
        self.shard = shard
        self.measure_from = measure_from
        self.progress = progress
        self.statuses: Counter[str] = Counter()

    def record(self, started: float, ended: float, status: str, timing: str | None = None) -> None:
        # Requests begun during warm-up are not counted: they see cold caches/replicas.
        if started < self.measure_from:
            return
        self.statuses[status] += 1
        if status.startswith("2"):
            self.shard.latencies.append(ended - started)
            if timing and len(self.shard.stages) < MAX_STAGE_SAMPLES:
                stages = parse_server_timing(timing)
                stages["client"] = (ended - started) * 1000.0
                self.shard.stages.append(stages)
        self.shard.first_start = min(self.shard.first_start, started)
        self.shard.last_end = max(self.shard.last_end, ended)
        with self.progress.get_lock():
            self.progress.value += 1


async def _send(
    session: Any, url: str, body: bytes, headers: dict[str, str]
) -> tuple[str, str | None]:
    """(status, Server-Timing header)."""
    import aiohttp

    try:
        async with session.post(url, data=body, headers=headers) as resp:
            # Read the whole body: the response is not done until its last byte arrives.
            await resp.read()
            return str(resp.status), resp.headers.get("server-timing")
    except TimeoutError:
        return "timeout", None
    except aiohttp.ClientError as e:
        return f"conn_error:{type(e).__name__}", None


async def _run_shard(work: Workload, step: Step, shard: Shard, progress: Any) -> None:
    import aiohttp

    bodies = work.bodies(shard.index)
    headers = work.headers()
    url = work.url.rstrip("/") + PATH
    t0 = time.monotonic()
    measure_from = t0 + step.warmup_s
    deadline = measure_from + step.duration_s if step.duration_s is not None else math.inf
    rec = _Recorder(shard, measure_from, progress)
    budget = [shard.requests if shard.requests is not None else math.inf]
    limit = step.max_inflight if step.mode == "open" else max(shard.workers, 1)
    connector = aiohttp.TCPConnector(limit=limit, force_close=False)
    timeout = aiohttp.ClientTimeout(total=work.timeout_s)
    counter = [0]

    def next_body() -> bytes:
        counter[0] += 1
        return bodies[counter[0] % len(bodies)]

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(scheduled: float) -> None:
            status, timing = await _send(session, url, next_body(), headers)
            rec.record(scheduled, time.monotonic(), status, timing)

        if step.mode == "closed":

            async def worker() -> None:
                while time.monotonic() < deadline:
                    if time.monotonic() >= measure_from:
                        if budget[0] <= 0:
                            return
                        budget[0] -= 1
                    await one(time.monotonic())

            await asyncio.gather(*(worker() for _ in range(shard.workers)))
        else:
            rng = random.Random(step.rate * 1000 + shard.index)
            inflight: set[asyncio.Task[None]] = set()
            when = time.monotonic()
            while when < deadline and budget[0] > 0:
                # Poisson arrivals: exponential gaps; the sum over processes is Poisson too.
                when += rng.expovariate(shard.rate)
                await asyncio.sleep(max(0.0, when - time.monotonic()))
                if when >= deadline:
                    break
                if when >= measure_from:
                    budget[0] -= 1
                if len(inflight) >= step.max_inflight:
                    rec.record(when, time.monotonic(), "dropped")
                    continue
                task = asyncio.create_task(one(when))
                inflight.add(task)
                task.add_done_callback(inflight.discard)
            if inflight:
                await asyncio.gather(*inflight)
    shard.statuses = dict(rec.statuses)


def _shard_main(work: Workload, step: Step, shard: Shard, progress: Any, out: Any) -> None:
    cpu0 = time.process_time()
    asyncio.run(_run_shard(work, step, shard, progress))
    shard.cpu_s = time.process_time() - cpu0
    out.put(asdict(shard))


# ----------------------------------------------------------------------- orchestration


def run_step(
    work: Workload,
    step: Step,
    processes: int,
    show_progress: bool = True,
    watch: tuple[str, str] | None = None,
) -> dict:
    """Run one step across `processes` client processes; merge their raw samples.
    ``watch`` = (Ray metrics URL, deployment): its replica count at the start and the end
    of the measured window goes into the summary."""
    if step.mode == "closed":
        workers = split(step.concurrency, processes)
        shards = [Shard(i, workers=w) for i, w in enumerate(workers) if w > 0]
    else:
        shards = [Shard(i, rate=step.rate / processes) for i in range(processes)]
    if step.requests is not None:
        for shard, n in zip(shards, split(step.requests, len(shards)), strict=True):
            shard.requests = n
    # spawn, not fork: a clean interpreter per client, whatever the parent imported.
    ctx = mp.get_context("spawn")
    progress = ctx.Value("q", 0)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_shard_main, args=(work, step, s, progress, out), daemon=True)
        for s in shards
    ]
    wall0 = time.monotonic()
    for p in procs:
        p.start()
    results: list[dict] = []
    label = f"c={step.concurrency}" if step.mode == "closed" else f"rate={step.rate:g}/s"
    bar = _progress_bar(step, label, show_progress)
    replicas: list[int | None] = []
    try:
        while len(results) < len(procs):
            if watch and not replicas and time.monotonic() - wall0 >= step.warmup_s:
                replicas.append(healthy_replicas(*watch))
            try:
                results.append(out.get(timeout=0.2))
            except Exception:  # queue.Empty: poll the processes and the progress counter
                if all(not p.is_alive() for p in procs) and out.empty():
                    raise RuntimeError("a client process died without reporting") from None
            if bar is not None:
                bar.n = (
                    progress.value
                    if step.requests
                    else min(time.monotonic() - wall0, step.warmup_s + (step.duration_s or 0))
                )
                bar.refresh()
    finally:
        if bar is not None:
            bar.close()
        for p in procs:
            p.join(timeout=5)
    wall = time.monotonic() - wall0
    if watch:
        replicas = [*replicas[:1], healthy_replicas(*watch)]
    latencies = [x for r in results for x in r["latencies"]]
    statuses: Counter[str] = Counter()
    for r in results:
        statuses.update(r["statuses"])
    starts = [r["first_start"] for r in results if r["first_start"] != math.inf]
    ends = [r["last_end"] for r in results if r["last_end"] > 0]
    # Measured window: first counted request sent to last counted one answered (the
    # monotonic clock is system-wide on Linux, so processes' stamps compare).
    elapsed = (max(ends) - min(starts)) if starts and ends else 0.0
    summary = summarize(latencies, statuses, elapsed, work.texts_per_request)
    cpu = sum(r["cpu_s"] for r in results)
    summary |= {
        "replicas": replicas if watch else None,
        "stages_ms": stage_breakdown(x for r in results for x in r["stages"]),
        "mode": step.mode,
        "concurrency": step.concurrency,
        "rate": step.rate,
        "processes": len(procs),
        "client_cpu": cpu / (wall * len(procs)) if wall > 0 else 0.0,
    }
    return summary


def _progress_bar(step: Step, label: str, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    if step.requests is not None:
        return tqdm(total=step.requests, desc=label, unit="req", leave=False)
    total = step.warmup_s + (step.duration_s or 0)
    return tqdm(
        total=total,
        desc=label,
        unit="s",
        leave=False,
        bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s",
    )
