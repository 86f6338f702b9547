"""Load generator for POST /v1/embeddings: this project's perf_analyzer.

Modes, each run as a sweep of steps and always bounded (--duration or --requests):

* closed loop (``--concurrency 1,4,16,64``): N workers, each sends its next request as
  soon as the previous one answers. Measures capacity at a given in-flight depth.
* open loop (``--rate 10,50,100``): requests arrive as a Poisson process at R req/s no
  matter how the server copes, as real traffic does. Latency is measured from each
  request's *scheduled* arrival, so a stalled server cannot hide its queueing
  (coordinated omission). In-flight requests are capped by --max-inflight; arrivals over
  the cap are counted as ``dropped`` rather than piling up without bound.

The client is ``--processes`` OS processes (default 2), each one asyncio event loop with
one aiohttp session; workers (or the arrival rate) are split evenly between them and the
raw latency samples are merged in the parent before percentiles are taken.

Is the client the bottleneck? Every step reports ``client_cpu`` — the CPU seconds the
client processes used divided by (wall time x processes). Near 100% means the client is
saturated and the numbers describe the client, not the server: add --processes (when
cores are free), use --engine wrk, or run the client on another machine. On a shared
box also compare with the server's CPU (``top``/``pidstat`` on the Ray workers, or the
Grafana dashboards): if server processes are below their CPU share while the client is
pegged, the client is the limit. A second check: doubling --processes at the same
concurrency should not change req/s if the server is the bottleneck.

``--engine wrk`` drives /usr/bin/wrk (closed loop, fixed payload, --duration only) with a
generated Lua script, as a cross-check with a C client.

Example:
    python -m benchmarks.loadgen --concurrency 1,4,16,64 --duration 20 \\
        --texts-per-request 8 --text-length 32 --json out.json --plot out.png
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing as mp
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.workload import parse_server_timing, stage_breakdown, summarize, synthetic_texts

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_MODEL = "all-MiniLM-L6-v2"
PATH = "/v1/embeddings"
# Server-Timing samples kept per client process (the stage medians need no more).
MAX_STAGE_SAMPLES = 20_000
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


def healthy_replicas(metrics_url: str, deployment: str) -> int | None:
    """Replicas of ``deployment`` that Ray's Prometheus endpoint reports healthy now: tells
    which steps of a sweep ran on an autoscaled count. None when the endpoint cannot be
    read or has no series of the deployment yet (Ray exports some seconds after a deploy)."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(metrics_url, timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    series = [
        s
        for family in text_string_to_metric_families(text)
        if family.name == "ray_serve_deployment_replica_healthy"
        for s in family.samples
        if s.labels.get("deployment") == deployment
    ]
    if not series:
        return None
    return len({s.labels.get("replica") for s in series if s.value == 1})


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


# ------------------------------------------------------------------------------- wrk


WRK_LUA = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
{auth}
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {{}} end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local counts = {{}}
  for _, t in ipairs(threads) do
    for s, n in pairs(t:get("statuses")) do counts[tostring(s)] = (counts[tostring(s)] or 0) + n end
  end
  local parts = {{}}
  for s, n in pairs(counts) do table.insert(parts, string.format('"%s": %d', s, n)) end
  io.write(string.format(
    'WRKJSON {{"requests": %d, "duration_us": %d, "timeouts": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "p50_us": %f, "p90_us": %f, "p99_us": %f, "mean_us": %f, "max_us": %f, ' ..
    '"statuses": {{%s}}}}\\n',
    summary.requests, summary.duration, summary.errors.timeout, summary.errors.connect,
    summary.errors.read, summary.errors.write, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, latency.max, table.concat(parts, ", ")))
end
"""


def _lua_string(s: str) -> str:
    return "[==[" + s + "]==]"


def wrk_script(work: Workload) -> str:
    auth = (
        f'wrk.headers["Authorization"] = {_lua_string("Bearer " + work.api_key)}'
        if work.api_key
        else ""
    )
    return WRK_LUA.format(body=_lua_string(work.bodies(0)[0].decode()), auth=auth)


def run_wrk_step(work: Workload, step: Step, processes: int) -> dict:
    """Closed loop with wrk: one fixed payload, `processes` threads, --latency HdrHistogram.

    wrk's percentiles come from its own histogram over all threads (no raw samples), and
    it has no warm-up: a warm-up run is made first and thrown away when --warmup > 0.
    """
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk not found on PATH")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(wrk_script(work))
        script = f.name
    threads = max(1, min(processes, step.concurrency))
    base = [
        wrk,
        "-t",
        str(threads),
        "-c",
        str(step.concurrency),
        "-s",
        script,
        "--timeout",
        f"{work.timeout_s:g}s",
        work.url.rstrip("/") + PATH,
    ]
    try:
        if step.warmup_s > 0:
            subprocess.run(
                [*base[:1], "-d", f"{step.warmup_s:g}s", *base[1:]],
                capture_output=True,
                text=True,
                check=False,
            )
        proc = subprocess.run(
            [*base[:1], "-d", f"{step.duration_s:g}s", *base[1:]],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        os.unlink(script)
    match = re.search(r"^WRKJSON (.*)$", proc.stdout, re.M)
    if proc.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stdout}\n{proc.stderr}")
    raw = json.loads(match.group(1))
    elapsed = raw["duration_us"] / 1e6
    statuses = Counter({str(k): v for k, v in raw["statuses"].items()})
    for kind in ("timeouts", "connect", "read", "write"):
        if raw[kind]:
            statuses["timeout" if kind == "timeouts" else f"conn_error:{kind}"] += raw[kind]
    summary = summarize([], statuses, elapsed, work.texts_per_request)
    summary |= {f"p{p}_ms": raw[f"p{p}_us"] / 1000 for p in (50, 90, 99)}
    summary |= {"mean_ms": raw["mean_us"] / 1000, "max_ms": raw["max_us"] / 1000}
    # wrk's latency covers every response, errors included; ours cover successes only.
    summary |= {
        "mode": "closed",
        "concurrency": step.concurrency,
        "rate": 0.0,
        "processes": threads,
        "client_cpu": None,
        "engine": "wrk",
    }
    return summary


# ------------------------------------------------------------------------------ output


def _redacted_command(argv: list[str]) -> str:
    """The command line for the results file, without the API key's value."""
    out, hide = ["python -m benchmarks.loadgen"], False
    for a in argv:
        if hide:
            out.append("***" if a else "''")  # an empty key (no auth) hides nothing
        else:
            out.append("--api-key=***" if a.startswith("--api-key=") else a)
        hide = a == "--api-key"
    return " ".join(out)


def _replicas(counts: list[int | None] | None) -> str:
    """`2`, or `1→2` when autoscaling changed the count during the step; `?` if unknown."""
    known = [c for c in counts or [] if c is not None]
    if not known:
        return "?"
    first, last = known[0], known[-1]
    return str(first) if first == last else f"{first}→{last}"


def format_table(steps: list[dict]) -> str:
    head = ["step", "req/s", "items/s", "p50 ms", "p90 ms", "p99 ms", "ok", "errors", "client cpu"]
    watched = any(s.get("replicas") for s in steps)
    if watched:
        head.append("replicas")
    rows = []
    for s in steps:
        step = f"c={s['concurrency']}" if s["mode"] == "closed" else f"{s['rate']:g}/s"
        errors = ", ".join(f"{k}:{v}" for k, v in s["errors"].items()) or "-"
        cpu = "-" if s.get("client_cpu") is None else f"{s['client_cpu']:.0%}"
        rows.append(
            [
                step,
                f"{s['req_per_s']:.1f}",
                f"{s['items_per_s']:.1f}",
                *(_ms(s[f"p{p}_ms"]) for p in (50, 90, 99)),
                str(s["ok"]),
                errors,
                cpu,
                *([_replicas(s.get("replicas"))] if watched else []),
            ]
        )
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def plot(runs: dict[str, list[dict]], out: Path) -> None:
    """Throughput and p99 latency against the step's load; one line per run (label)."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only; no display on a server
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise SystemExit(
            "--plot needs matplotlib: pip install -c constraints.txt matplotlib"
        ) from e
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    xlabel = "concurrency"
    for label, steps in runs.items():
        closed = steps[0]["mode"] == "closed"
        xlabel = "concurrency" if closed else "offered rate (req/s)"
        xs = [s["concurrency"] if closed else s["rate"] for s in steps]
        ax1.plot(xs, [s["items_per_s"] for s in steps], marker="o", label=label)
        ax2.plot(xs, [s["p99_ms"] or float("nan") for s in steps], marker="o", label=label)
    for ax, ylabel in ((ax1, "items/s (2xx only)"), (ax2, "p99 latency (ms)")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


# --------------------------------------------------------------------------------- CLI


def _numbers(text: str, kind: type) -> list:
    try:
        values = [kind(x) for x in text.split(",") if x.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from e
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive numbers, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.loadgen",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    load = p.add_mutually_exclusive_group()
    load.add_argument(
        "--concurrency",
        type=lambda s: _numbers(s, int),
        default=None,
        help="closed loop: comma-separated worker counts to sweep (default 1,4,16,64)",
    )
    load.add_argument(
        "--rate",
        type=lambda s: _numbers(s, float),
        default=None,
        help="open loop: comma-separated Poisson arrival rates (req/s) to sweep",
    )
    bound = p.add_mutually_exclusive_group()
    bound.add_argument("--duration", type=float, help="seconds measured per step")
    bound.add_argument("--requests", type=int, help="requests measured per step")
    p.add_argument(
        "--warmup", type=float, default=2.0, help="seconds per step not counted (default 2)"
    )
    p.add_argument("--texts-per-request", type=int, default=1)
    p.add_argument("--text-length", type=int, default=32, help="words per text (default 32)")
    p.add_argument("--url", default=DEFAULT_URL, help=f"base URL (default {DEFAULT_URL})")
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--api-key", default=os.environ.get("API_KEY"), help="default: $API_KEY")
    p.add_argument("--processes", type=int, default=2, help="client processes (default 2)")
    p.add_argument("--timeout", type=float, default=60.0, help="per-request timeout, s")
    p.add_argument("--max-inflight", type=int, default=1024, help="open loop: per-process cap")
    p.add_argument("--engine", choices=("python", "wrk"), default="python")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--label", default=None, help="name of this run in the JSON and plot")
    p.add_argument("--json", type=Path, help="write results here")
    p.add_argument("--plot", type=Path, help="write throughput/p99 vs load PNG here")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--metrics-url",
        help="Ray's Prometheus endpoint (http://HOST:8080/metrics): report the model "
        "deployment's healthy replicas at the start and end of each step",
    )
    p.add_argument("--deployment", help="the deployment --metrics-url watches (default: --model)")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = build_parser()
    args = p.parse_args(argv)
    # Unbounded runs are refused: a benchmark that never ends is an outage generator.
    if args.duration is None and args.requests is None:
        p.error("refusing an unbounded run: give --duration SECONDS or --requests N")
    if args.duration is not None and not 0 < args.duration <= 3600:
        p.error("--duration must be in (0, 3600]")
    if args.requests is not None and args.requests <= 0:
        p.error("--requests must be positive")
    for name in ("processes", "texts_per_request", "text_length", "max_inflight"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if args.engine == "wrk" and (args.rate or args.requests is not None):
        p.error("--engine wrk supports closed loop with --duration only")
    if args.rate is None and args.concurrency is None:
        args.concurrency = [1, 4, 16, 64]
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    work = Workload(
        args.url,
        args.model,
        args.api_key,
        args.texts_per_request,
        args.text_length,
        args.timeout,
        args.seed,
    )
    if args.rate:
        steps = [
            Step(
                "open",
                rate=r,
                duration_s=args.duration,
                requests=args.requests,
                warmup_s=args.warmup,
                max_inflight=args.max_inflight,
            )
            for r in args.rate
        ]
    else:
        steps = [
            Step(
                "closed",
                concurrency=c,
                duration_s=args.duration,
                requests=args.requests,
                warmup_s=args.warmup,
            )
            for c in args.concurrency
        ]
    results = []
    for step in steps:
        if args.engine == "wrk":
            results.append(run_wrk_step(work, step, args.processes))
        else:
            watch = (args.metrics_url, args.deployment or args.model) if args.metrics_url else None
            results.append(run_step(work, step, args.processes, not args.no_progress, watch))
        print(format_table(results[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    print(format_table(results))
    report = {
        "label": args.label or f"{args.engine} {args.url}",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "host": platform.node(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "command": _redacted_command(sys.argv[1:] if argv is None else argv),
        "workload": {k: v for k, v in asdict(work).items() if k != "api_key"},
        "engine": args.engine,
        "steps": results,
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    if args.plot:
        plot({report["label"]: results}, args.plot)
    return report


if __name__ == "__main__":
    main()
