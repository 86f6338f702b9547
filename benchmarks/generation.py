"""Text-generation benchmark: closed loop at several concurrencies, fixed prompt and output
lengths (``ignore_eos``, so every request makes ``--tokens`` tokens), three set-ups side by
side in one run:

  (a) ``sequential``: the one-sequence-per-step generator (GeneratorArgs.engine
      sequential, today's before continuous batching), in-process, no serving layer;
  (b) ``continuous``: the continuous batching engine in-process, no serving layer: the
      ceiling of (c);
  (c) ``http``: serve_config.yaml's generator through the ingress over HTTP (streamed
      /v1/completions), on a private cluster (tests/support/live_cluster.py's, as
      benchmarks/autoscaling_ab.py uses it);
  (d) ``http-sequential``: (a) behind the same HTTP path, today's generator as a client
      saw it (issue 15 measured it on `make up`: ~607 tokens/s at 16).

``--stream-interval N`` sets the continuous engine's ``stream_interval`` for (b) and (c)
(default: serve_config.yaml's).

    .venv/bin/python -m benchmarks.generation --out benchmarks/out/generation.json \\
        --results benchmarks/RESULTS.md      # make bench-generation; make bench runs it too

It writes RESULTS.md's "Text generation" section (benchmarks/results.py: the rest of the
file stays).

Per set-up and concurrency: output tokens/s, time to first token p50/p99 and inter-token
latency p50/p99 (gaps between a stream's chunks over the tokens they carry). The model is
the demo tiny-gpt2 (random weights), one torch thread, as serve_config.yaml runs it.
--model-dir points at another (e.g. benchmarks/random_model-style GPT-2-small for GPU).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from benchmarks.results import write_section

ROOT = Path(__file__).resolve().parents[1]
PROMPT = " ".join(["The quick brown fox jumps over the lazy dog."] * 3)


# What one request reports: (time, tokens) of each delivery, its TTFT, and its inter-token
# gaps (a gap per token, a delivery's gap shared by the tokens it carried).
Events = list[tuple[float, float]]
One = Callable[[], Awaitable[tuple[Events, float, list[float]]]]
# Runs one measured window of a set-up at a concurrency: (concurrency, seconds, warm-up).
Point = Callable[[int, float, float], "Run"]


@dataclass
class Run:
    setup: str
    concurrency: int
    seconds: float = 0.0
    tokens: float = 0.0  # tokens delivered inside the measured windows
    requests: int = 0  # requests that ended inside them
    # of requests that started after a warm-up and ended inside its window
    ttft: list[float] = field(default_factory=list)
    itl: list[float] = field(default_factory=list)
    made: float = 0.0  # every token of the points, warm-ups and tails included
    # http: CPU seconds of each process role (cpu_cost.py's roles) and of this client,
    # over the same points as ``made``
    cpu_s: dict[str, float] = field(default_factory=dict)

    def add(self, other: Run) -> None:
        """Pool another window of the same set-up and concurrency into this one."""
        self.seconds += other.seconds
        self.tokens += other.tokens
        self.requests += other.requests
        self.ttft += other.ttft
        self.itl += other.itl
        self.made += other.made
        for role, used in other.cpu_s.items():
            self.cpu_s[role] = self.cpu_s.get(role, 0.0) + used

    def summary(self) -> dict[str, Any]:
        def pct(xs: list[float], q: float) -> float | None:
            return float(np.percentile(xs, q) * 1000) if xs else None

        cpu = {r: 1000 * v / self.made for r, v in sorted(self.cpu_s.items())} if self.made else {}
        return {
            "setup": self.setup,
            "concurrency": self.concurrency,
            "requests": self.requests,
            "tokens_per_s": self.tokens / self.seconds if self.seconds else 0.0,
            "ttft_p50_ms": pct(self.ttft, 50),
            "ttft_p99_ms": pct(self.ttft, 99),
            "itl_p50_ms": pct(self.itl, 50),
            "itl_p99_ms": pct(self.itl, 99),
            "cpu_ms_per_token": cpu,
        }


@dataclass
class Deliveries:
    """One in-process request's deliveries as they come, each with the request's token
    count so far: its TTFT, a gap per token (a delivery's gap shared by the tokens it
    carried) and the (time, tokens) events ``closed_loop`` counts."""

    sent: float
    tokens: int = 0
    last: float = 0.0
    ttft: float = 0.0
    gaps: list[float] = field(default_factory=list)
    events: Events = field(default_factory=list)

    def add(self, now: float, total: int) -> None:
        new = total - self.tokens
        if new <= 0:
            return
        if self.tokens == 0:
            self.ttft = now - self.sent
        else:
            self.gaps += [(now - self.last) / new] * new
        self.events.append((now, float(new)))
        self.tokens, self.last = total, now

    def report(self) -> tuple[Events, float, list[float]]:
        return self.events, self.ttft, self.gaps


async def closed_loop(run: Run, one: One, duration: float, warmup: float) -> None:
    """``run.concurrency`` workers, each sending its next request when the last ended.
    Throughput counts the tokens delivered between ``warmup`` and ``warmup + duration``
    (whenever their request started or ends: counting whole requests only would drop the
    ones that straddle an edge, a bias of latency / window against the slower set-up);
    latencies come from requests that started after the warm-up and ended in the window."""
    start = time.perf_counter()
    begin, end = start + warmup, start + warmup + duration

    async def worker() -> None:
        while time.perf_counter() < end:
            sent = time.perf_counter()
            events, ttft, gaps = await one()
            done = time.perf_counter()
            run.made += sum(n for _, n in events)
            run.tokens += sum(n for t, n in events if begin <= t <= end)
            run.requests += begin <= done <= end
            if sent >= begin and done <= end:
                run.ttft.append(ttft)
                run.itl += gaps

    await asyncio.gather(*(worker() for _ in range(run.concurrency)))
    run.seconds += duration


def window(setup: str, one: One) -> Point:
    """A point of an in-process set-up: its closed loop on a fresh event loop."""

    def point(c: int, duration: float, warmup: float) -> Run:
        run = Run(setup, c)
        asyncio.run(closed_loop(run, one, duration, warmup))
        return run

    return point


def in_process(engine: str, model_dir: Path, args: argparse.Namespace) -> Point:
    from deployments.config import GeneratorArgs
    from deployments.contracts import GenerateRequest
    from deployments.models.generation.deployment import TextGenerator

    gen_args = GeneratorArgs(
        name="bench",
        source=str(model_dir),
        torch_threads=1,
        device=args.device,
        dtype=args.dtype,
        engine=engine,
        max_new_tokens_limit=1024,
        max_prompt_tokens=512,
        batching={"max_num_seqs": max(args.concurrency)}
        | ({} if args.stream_interval is None else {"stream_interval": args.stream_interval}),
    )
    gen = cast(Any, TextGenerator).func_or_class(gen_args)
    request = GenerateRequest(
        prompt=PROMPT, max_tokens=args.tokens, temperature=0.0, top_p=1.0, ignore_eos=True
    )

    async def one() -> tuple[Events, float, list[float]]:
        stream = Deliveries(time.perf_counter())
        async for chunk in gen.generate(request):
            stream.add(time.perf_counter(), chunk.completion_tokens)
        return stream.report()

    return window(engine, one)


def transformers_cb(model_dir: Path, args: argparse.Namespace) -> tuple[Point, Callable[[], None]]:
    """Hugging Face's own continuous batching (``ContinuousBatchingManager``: paged KV
    cache, its own generation thread), in-process with no serving layer: the engine issue
    15 asked us to measure against our scheduler. One manager serves every point (built
    once, as a server would); results are streamed, so TTFT and gaps are per token. The
    point and the manager's stop."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig
    from transformers.generation.configuration_utils import ContinuousBatchingConfig

    from deployments.models.runtime import pick_device, pick_dtype

    torch.set_num_threads(1)
    device = pick_device(args.device)
    model: Any = AutoModelForCausalLM.from_pretrained(
        model_dir, local_files_only=True, dtype=pick_dtype(args.dtype, device)
    )
    model = model.to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    prompt: list[int] = tokenizer(PROMPT)["input_ids"]
    most = max(args.concurrency)
    # A cache sized for this workload (most x (prompt + tokens) in 64-token pages): the
    # default sizing probes memory and takes ~25 s to start on this box.
    pages = -(-most * (len(prompt) + args.tokens) // 64) + most
    manager = model.init_continuous_batching(
        generation_config=GenerationConfig(
            max_new_tokens=args.tokens, do_sample=False, eos_token_id=-1
        ),
        continuous_batching_config=ContinuousBatchingConfig(
            page_size=64,
            num_blocks=pages,
            max_batch_tokens=max(512, 4 * len(prompt)),
            max_requests_per_batch=most,
        ),
    )
    manager.start()

    async def one() -> tuple[Events, float, list[float]]:
        results: asyncio.Queue[Any] = asyncio.Queue()
        stream = Deliveries(time.perf_counter())
        rid = manager.add_request(prompt, max_new_tokens=args.tokens, streaming=True)
        manager.register_result_handler(rid, results.put_nowait)
        while True:
            out = await results.get()
            stream.add(time.perf_counter(), len(out.generated_tokens))
            if out.is_finished():
                return stream.report()

    return window("transformers", one), lambda: manager.stop(block=True)


def over_http(args: argparse.Namespace) -> tuple[dict[str, Point], Callable[[], None]]:
    """One private cluster serving two generators: serve_config.yaml's (``http``) and the
    same one with the sequential engine (``http-sequential``), so their points can take
    turns. The points by set-up, and the cluster's stop."""
    import aiohttp

    from benchmarks.cpu_cost import cpu_by_role
    from tests.support.live_cluster import GENERATOR, base_config, deployment, start_cluster

    sequential_name = f"{GENERATOR}-sequential"

    def config(port: int) -> dict[str, Any]:
        cfg = base_config()
        cfg["http_options"]["port"] = port
        app = cfg["applications"][0]
        # The generators alone: no embedding or predictor replica competes for the cores.
        for key in ("predictors", "multiplexed"):
            app["args"].pop(key, None)
        app["args"]["models"] = []
        (gen,) = (g for g in app["args"]["generators"] if g["name"] == GENERATOR)
        gen["engine"] = "continuous"
        if args.stream_interval is not None:
            gen.setdefault("batching", {})["stream_interval"] = args.stream_interval
        sequential = {**gen, "name": sequential_name, "engine": "sequential"}
        compared = [
            {
                **gen,
                "name": f"{GENERATOR}-si{n}",
                "batching": gen["batching"] | {"stream_interval": n},
            }
            for n in args.stream_interval_ab
        ]
        app["args"]["generators"] = [gen, sequential, *compared]
        app["args"]["rate_limits"] = {"default": None}
        replica = deployment(app, GENERATOR)
        app["deployments"] = [
            deployment(app, "Ingress"),
            replica,
            {**replica, "name": sequential_name},
            *({**replica, "name": g["name"]} for g in compared),
        ]
        return {**cfg, "applications": [app]}

    cluster = start_cluster(Path(tempfile.mkdtemp(prefix="rsic-bench-gen-")), config=config)

    def point_of(setup: str, model: str) -> Point:
        payload = {"model": model, "prompt": PROMPT, "max_tokens": args.tokens}
        payload |= {"temperature": 0, "stream": True, "ignore_eos": True}
        body = json.dumps(payload).encode()

        def point(c: int, duration: float, warmup: float) -> Run:
            run = Run(setup, c)

            async def main() -> None:
                # aiohttp, as vLLM's benchmark_serving uses: the client shares the 2 cores
                # with the servers, so its CPU per token is taken from theirs.
                connector = aiohttp.TCPConnector(limit=c)
                async with aiohttp.ClientSession(
                    base_url=cluster.base_url,
                    headers=cluster.auth_headers() | {"Content-Type": "application/json"},
                    timeout=aiohttp.ClientTimeout(total=120),
                    connector=connector,
                ) as client:

                    async def one() -> tuple[Events, float, list[float]]:
                        sent = time.perf_counter()
                        ttft, arrivals = 0.0, []
                        async with client.post("/v1/completions", data=body) as r:
                            r.raise_for_status()
                            async for line in r.content:
                                if line.startswith(b"data: {"):
                                    arrivals.append(time.perf_counter())
                        # Byte-level text: a chunk is a token or a few (held-back bytes),
                        # so each chunk counts as an equal share of the tokens.
                        per = args.tokens / max(len(arrivals), 1)
                        if arrivals:
                            ttft = arrivals[0] - sent
                        gaps = [(b - a) / per for a, b in itertools.pairwise(arrivals)]
                        return [(t, per) for t in arrivals], ttft, gaps

                    await closed_loop(run, one, duration, warmup)

            before, client = cpu_by_role(cluster.env["RUN_DIR"]), time.process_time()
            asyncio.run(main())
            after, client = cpu_by_role(cluster.env["RUN_DIR"]), time.process_time() - client
            run.cpu_s = {r: after[r] - before.get(r, 0.0) for r in after} | {"client": client}
            return run

        return point

    points = {
        "http": point_of("http", GENERATOR),
        "http-sequential": point_of("http-sequential", sequential_name),
    }
    for n in args.stream_interval_ab:
        points[f"http-si{n}"] = point_of(f"http-si{n}", f"{GENERATOR}-si{n}")
    return points, cluster.stop


SECTION = "## Text generation"


def markdown(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    by = {(r["setup"], r["concurrency"]): r for r in results}
    command = " ".join(["python -m benchmarks.generation", *(args.argv or [])])
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        SECTION,
        "",
        f"`{command}` (benchmarks/generation.py; `make bench-generation`): prompt "
        f"{len(PROMPT)} chars, {args.tokens} output tokens per request with ignore_eos, "
        f"closed loop, {args.duration:g} s per point ({args.duration_at_1:g} s at c=1) in "
        f"{args.rounds} windows, each after {args.warmup:g} s warm-up, the set-ups taking "
        "turns window by window, each round starting one set-up further along (this box's "
        "speed drifts by up to 2x within a minute); tokens/s counts the tokens delivered "
        f"inside the windows; greedy, one torch thread, model {args.model_dir.name} on "
        f"{args.device}; {when}. sequential / continuous: our engines in-process (no "
        "serving layer; continuous is the ceiling of http). transformers: Hugging Face's "
        "ContinuousBatchingManager (paged cache, its own thread) in-process, the library "
        "engine we measured ours against. http: serve_config.yaml's generator through the "
        "ingress, streamed /v1/completions; http-sequential: the one-sequence-per-step "
        "generator behind the same path, on the same cluster (today's before continuous "
        "batching). Client and servers share the 2 cores.",
        "",
        "| setup | c | tokens/s | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]

    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:.1f}"

    for r in results:
        tps = f"{r['tokens_per_s']:.0f}" if r["tokens_per_s"] else "no token in the windows"
        lines.append(
            f"| {r['setup']} | {r['concurrency']} | {tps} | "
            f"{f(r['ttft_p50_ms'])} | {f(r['ttft_p99_ms'])} | {f(r['itl_p50_ms'])} | "
            f"{f(r['itl_p99_ms'])} |"
        )
    cpu_rows = [r for r in results if r.get("cpu_ms_per_token")]
    if cpu_rows:
        roles = sorted({role for r in cpu_rows for role in r["cpu_ms_per_token"]})
        lines += [
            "",
            "Over HTTP, CPU milliseconds per output token by process (cpu_cost.py's roles "
            "from /proc, the load generator from its own process time; model includes the "
            "engine's steps).",
            "",
            "| setup | c | " + " | ".join(roles) + " | total |",
            "| --- | --- |" + " ---: |" * (len(roles) + 1),
        ]
        for r in cpu_rows:
            cpu = r["cpu_ms_per_token"]
            cells = [f"{cpu.get(role, 0.0):.3f}" for role in roles]
            lines.append(
                f"| {r['setup']} | {r['concurrency']} | "
                + " | ".join(cells)
                + f" | {sum(cpu.values()):.3f} |"
            )
    lines += [
        "",
        "Goals (issue 15): tokens/s at c=16 >= 5x today's generator and >= 70% of the "
        "in-process ceiling; c=1 tokens/s and TTFT within 10% of today's; TTFT p99 <= 3x "
        "p50 at c=16.",
        "",
    ]
    for c in args.concurrency:
        seq, cont, http, http_seq = (
            by.get((s, c)) for s in ("sequential", "continuous", "http", "http-sequential")
        )
        if seq and cont and seq["tokens_per_s"] and cont["tokens_per_s"]:
            parts = [
                f"c={c}: continuous/sequential {cont['tokens_per_s'] / seq['tokens_per_s']:.2f}x"
            ]
            hf = by.get(("transformers", c))
            if hf and hf["tokens_per_s"]:
                parts.append(
                    f"continuous/transformers {cont['tokens_per_s'] / hf['tokens_per_s']:.2f}x"
                )
            if http:
                parts.append(f"http/sequential {http['tokens_per_s'] / seq['tokens_per_s']:.2f}x")
                parts.append(f"http/continuous {http['tokens_per_s'] / cont['tokens_per_s']:.0%}")
                if http_seq and http_seq["tokens_per_s"]:
                    ratio = http["tokens_per_s"] / http_seq["tokens_per_s"]
                    parts.append(f"http/http-sequential {ratio:.2f}x")
                    if http_seq["ttft_p50_ms"] and http["ttft_p50_ms"]:
                        ttft = http["ttft_p50_ms"] / http_seq["ttft_p50_ms"]
                        parts.append(f"TTFT p50 http/http-sequential {ttft:.2f}x")
                if http["ttft_p50_ms"]:
                    parts.append(
                        f"http TTFT p99/p50 {http['ttft_p99_ms'] / http['ttft_p50_ms']:.2f}"
                    )
            lines.append("- " + ", ".join(parts))
    compared = sorted({r["setup"] for r in results if r["setup"].startswith("http-si")})
    if compared:
        lines += [
            "",
            "stream_interval A/B (`--stream-interval-ab`): the http generator with another "
            "stream_interval, its turn beside http's on the same cluster; tokens/s against http.",
            "",
        ]
        for c in args.concurrency:
            http = by.get(("http", c))
            pairs = [(s, by.get((s, c))) for s in compared]
            if http and http["tokens_per_s"]:
                lines.append(
                    f"- c={c}: "
                    + ", ".join(
                        f"{s}/http {r['tokens_per_s'] / http['tokens_per_s']:.2f}x"
                        for s, r in pairs
                        if r
                    )
                )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4, 16, 32]
    )
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument(
        "--duration", type=float, default=9.0, help="measured seconds per point, all rounds"
    )
    parser.add_argument(
        "--duration-at-1", type=float, default=18.0, help="measured seconds at concurrency 1"
    )
    parser.add_argument("--warmup", type=float, default=1.5, help="seconds before each window")
    parser.add_argument("--rounds", type=int, default=3, help="windows per point, interleaved")
    parser.add_argument(
        "--setups", default="sequential,continuous,transformers,http,http-sequential"
    )
    parser.add_argument("--stream-interval", type=int, default=None)
    parser.add_argument(
        "--stream-interval-ab",
        type=lambda s: [int(x) for x in s.split(",")] if s else [],
        default=[],
        help="also http-siN: the http generator with stream_interval N, on the same cluster",
    )
    parser.add_argument("--model-dir", type=Path, default=ROOT / "model_repository" / "tiny-gpt2")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    parser.add_argument(
        "--dtype", choices=["auto", "float32", "float16", "bfloat16"], default="auto"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/out/generation.json")
    parser.add_argument("--results", type=Path, default=None, help="RESULTS.md to write into")
    args = parser.parse_args(argv)
    args.argv = argv if argv is not None else sys.argv[1:]
    setups = args.setups.split(",") + [f"http-si{n}" for n in args.stream_interval_ab]
    points: dict[str, Point] = {}
    stops: list[Callable[[], None]] = []
    pooled: dict[tuple[str, int], Run] = {}
    try:
        for engine in ("sequential", "continuous"):
            if engine in setups:
                points[engine] = in_process(engine, args.model_dir, args)
        if "transformers" in setups:
            points["transformers"], stop = transformers_cb(args.model_dir, args)
            stops.append(stop)
        if any(s.startswith("http") for s in setups):
            served, stop = over_http(args)
            stops.append(stop)
            points |= {s: served[s] for s in served if s in setups}
        # Set-ups take turns, a window each, round after round: this box's speed drifts
        # by up to 2x within a minute (a fixed Python loop took 0.17-0.38 s back to back),
        # so a ratio of set-ups measured minutes apart measures the drift as well.
        # Each round starts one set-up further along, so none always gets the same
        # place in the round (benchmarks/README.md: a c=1 TTFT gap not yet explained).
        # A lone stream ends a tenth as many requests as 16 do (~30 in 9 s here): c=1
        # points get --duration-at-1 (18 s) so its TTFT p50 rests on twice as many.
        turns = [s for s in setups if s in points]
        for r in range(args.rounds):
            for c in args.concurrency:
                seconds = (args.duration_at_1 if c == 1 else args.duration) / args.rounds
                for setup in turns[r % len(turns) :] + turns[: r % len(turns)]:
                    run = points[setup](c, seconds, args.warmup)
                    pooled.setdefault((setup, c), Run(setup, c)).add(run)
        runs = sorted(pooled.values(), key=lambda r: (setups.index(r.setup), r.concurrency))
        for run in runs:
            print(json.dumps(run.summary()), flush=True)
    finally:
        for stop in reversed(stops):
            stop()
    results = [r.summary() for r in runs]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    section = markdown(results, args)
    print(section)
    if args.results:
        write_section(args.results, SECTION, section)


if __name__ == "__main__":
    main()
