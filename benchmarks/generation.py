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
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from benchmarks.results import write_section

ROOT = Path(__file__).resolve().parents[1]
PROMPT = " ".join(["The quick brown fox jumps over the lazy dog."] * 3)


@dataclass
class Run:
    setup: str
    concurrency: int
    seconds: float = 0.0
    tokens: int = 0
    requests: int = 0
    ttft: list[float] = field(default_factory=list)
    itl: list[float] = field(default_factory=list)
    made: int = 0  # every token of the point, warm-up and tail included
    # http: CPU milliseconds per output token of each process role (cpu_cost.py's roles),
    # and of this client
    cpu_ms_per_token: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        def pct(xs: list[float], q: float) -> float | None:
            return float(np.percentile(xs, q) * 1000) if xs else None

        return {
            "setup": self.setup,
            "concurrency": self.concurrency,
            "requests": self.requests,
            "tokens_per_s": self.tokens / self.seconds if self.seconds else 0.0,
            "ttft_p50_ms": pct(self.ttft, 50),
            "ttft_p99_ms": pct(self.ttft, 99),
            "itl_p50_ms": pct(self.itl, 50),
            "itl_p99_ms": pct(self.itl, 99),
            "cpu_ms_per_token": self.cpu_ms_per_token,
        }


async def closed_loop(run: Run, one: Any, duration: float, warmup: float) -> None:
    """``run.concurrency`` workers, each sending its next request when the last ended;
    what ends after ``warmup`` and before ``warmup + duration`` is counted."""
    start = time.perf_counter()
    begin, end = start + warmup, start + warmup + duration

    async def worker() -> None:
        while time.perf_counter() < end:
            sent = time.perf_counter()
            tokens, ttft, gaps = await one()
            done = time.perf_counter()
            run.made += tokens
            if sent >= begin and done <= end:
                run.requests += 1
                run.tokens += tokens
                run.ttft.append(ttft)
                run.itl += gaps

    await asyncio.gather(*(worker() for _ in range(run.concurrency)))
    run.seconds = duration


def in_process(engine: str, model_dir: Path, args: argparse.Namespace) -> list[Run]:
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

    async def one() -> tuple[int, float, list[float]]:
        sent = time.perf_counter()
        last, ttft, gaps, tokens = sent, 0.0, [], 0
        async for chunk in gen.generate(request):
            now = time.perf_counter()
            new = chunk.completion_tokens - tokens
            if new <= 0:
                continue
            if tokens == 0:
                ttft = now - sent
            else:
                gaps += [(now - last) / new] * new
            tokens, last = chunk.completion_tokens, now
        return tokens, ttft, gaps

    runs = []
    for c in args.concurrency:
        run = Run(engine, c)
        asyncio.run(closed_loop(run, one, args.duration, args.warmup))
        print(json.dumps(run.summary()), flush=True)
        runs.append(run)
    return runs


def over_http(args: argparse.Namespace, engine: str = "continuous") -> list[Run]:
    import httpx

    from benchmarks.cpu_cost import cpu_by_role
    from tests.support.live_cluster import GENERATOR, base_config, deployment, start_cluster

    def config(port: int) -> dict[str, Any]:
        cfg = base_config()
        cfg["http_options"]["port"] = port
        app = cfg["applications"][0]
        # The generator alone: no embedding or predictor replica competes for the cores.
        for key in ("predictors", "multiplexed"):
            app["args"].pop(key, None)
        app["args"]["models"] = []
        for gen in app["args"]["generators"]:
            gen["engine"] = engine
            if args.stream_interval is not None:
                gen.setdefault("batching", {})["stream_interval"] = args.stream_interval
        app["args"]["rate_limits"] = {"default": None}
        app["deployments"] = [deployment(app, "Ingress"), deployment(app, GENERATOR)]
        return {**cfg, "applications": [app]}

    cluster = start_cluster(Path(tempfile.mkdtemp(prefix="rsic-bench-gen-")), config=config)
    payload = {"model": GENERATOR, "prompt": PROMPT, "max_tokens": args.tokens}
    payload |= {"temperature": 0, "stream": True, "ignore_eos": True}
    runs = []
    try:
        for c in args.concurrency:
            run = Run("http" if engine == "continuous" else f"http-{engine}", c)

            async def main(run: Run = run, c: int = c) -> None:
                limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
                async with httpx.AsyncClient(
                    base_url=cluster.base_url,
                    headers=cluster.auth_headers(),
                    timeout=120,
                    limits=limits,
                ) as client:

                    async def one() -> tuple[int, float, list[float]]:
                        sent = time.perf_counter()
                        last, ttft, gaps, chunks = sent, 0.0, [], 0
                        async with client.stream("POST", "/v1/completions", json=payload) as r:
                            r.raise_for_status()
                            async for line in r.aiter_lines():
                                if not line.startswith("data: {"):
                                    continue
                                now = time.perf_counter()
                                if chunks == 0:
                                    ttft = now - sent
                                else:
                                    gaps.append(now - last)
                                chunks, last = chunks + 1, now
                        # Byte-level text: a chunk is a token or a few (held-back bytes).
                        per = (len(gaps) + 1) / args.tokens
                        return args.tokens, ttft, [g * per for g in gaps]

                    await closed_loop(run, one, args.duration, args.warmup)

            before, client = cpu_by_role(cluster.env["RUN_DIR"]), time.process_time()
            asyncio.run(main())
            after, client = cpu_by_role(cluster.env["RUN_DIR"]), time.process_time() - client
            if run.made:
                used = {r: after[r] - before.get(r, 0.0) for r in after} | {"client": client}
                run.cpu_ms_per_token = {r: 1000 * v / run.made for r, v in sorted(used.items())}
            print(json.dumps(run.summary()), flush=True)
            runs.append(run)
    finally:
        cluster.stop()
    return runs


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
        f"closed loop, {args.duration:g} s per point after {args.warmup:g} s warm-up, "
        f"greedy, one torch thread, model {args.model_dir.name} on {args.device}; {when}. "
        "sequential / continuous: the engines in-process (no serving layer; continuous is "
        "the ceiling of http). http: serve_config.yaml's generator through the ingress, "
        "streamed /v1/completions; http-sequential: the one-sequence-per-step generator "
        "behind the same path (today's before continuous batching). Client and servers "
        "share the 2 cores.",
        "",
        "| setup | c | tokens/s | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]

    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:.1f}"

    for r in results:
        # No request both started after the warm-up and ended inside the window.
        tps = f"{r['tokens_per_s']:.0f}" if r["requests"] else "none ended in the window"
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
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4, 16, 32]
    )
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--setups", default="sequential,continuous,http,http-sequential")
    parser.add_argument("--stream-interval", type=int, default=None)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "model_repository" / "tiny-gpt2")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    parser.add_argument(
        "--dtype", choices=["auto", "float32", "float16", "bfloat16"], default="auto"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/out/generation.json")
    parser.add_argument("--results", type=Path, default=None, help="RESULTS.md to write into")
    args = parser.parse_args(argv)
    args.argv = argv if argv is not None else sys.argv[1:]
    setups = args.setups.split(",")
    runs: list[Run] = []
    for engine in ("sequential", "continuous"):
        if engine in setups:
            runs += in_process(engine, args.model_dir, args)
    if "http" in setups:
        runs += over_http(args)
    if "http-sequential" in setups:
        runs += over_http(args, engine="sequential")
    results = [r.summary() for r in runs]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    section = markdown(results, args)
    print(section)
    if args.results:
        write_section(args.results, SECTION, section)


if __name__ == "__main__":
    main()
