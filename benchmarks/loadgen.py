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

This file is the CLI. The rest lives beside it: the request workload and sweep steps in
``workload.py``, the Python engine in ``load_runner.py``, the wrk engine in
``wrk_runner.py``, replica counts from Ray's metrics in ``replica_metrics.py``, and the
table, JSON results file and plot in ``results.py``.

Example:
    python -m benchmarks.loadgen --concurrency 1,4,16,64 --duration 20 \\
        --texts-per-request 8 --text-length 32 --json out.json --plot out.png
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from benchmarks.load_runner import run_step
from benchmarks.results import format_table, plot, run_report
from benchmarks.workload import DEFAULT_MODEL, DEFAULT_URL, Step, Workload
from benchmarks.wrk_runner import run_wrk_step

PROG = "python -m benchmarks.loadgen"


def _redacted_command(argv: list[str]) -> str:
    """The command line for the results file, without the API key's value."""
    out, hide = [PROG], False
    for a in argv:
        if hide:
            out.append("***" if a else "''")  # an empty key (no auth) hides nothing
        else:
            out.append("--api-key=***" if a.startswith("--api-key=") else a)
        hide = a == "--api-key"
    return " ".join(out)


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
        prog=PROG,
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
    report = run_report(
        args.label or f"{args.engine} {args.url}",
        _redacted_command(sys.argv[1:] if argv is None else argv),
        work,
        args.engine,
        results,
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    if args.plot:
        plot({report["label"]: results}, args.plot)
    return report


if __name__ == "__main__":
    main()
