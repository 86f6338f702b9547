"""Where the CPU goes: CPU milliseconds per request in each process of one Ray cluster.

Sends N requests at concurrency C to `/v1/embeddings` (or any route), and reads each
process's user+system CPU time from /proc before and after. Processes are those whose
environment carries the cluster's RUN_DIR (so another cluster on the machine does not
count), grouped by role: proxy (Serve's proxy or HAProxy and its manager), ingress, model,
control (controller, GCS, raylet, dashboard...). On a CPU-bound box, 1000 / (total ms per
request) x cores bounds req/s, whatever the latency.

With ``--profile-seconds S`` it then samples the model and ingress replicas with py-spy
for S seconds under the same load and sorts each sample by what it was doing (the
forward pass, tokenization, pooling, our batching code, Ray's own machinery, HTTP and
validation): where the milliseconds above go inside each process.

    python -m benchmarks.cpu_cost --url http://127.0.0.1:8000 --run-dir .run --requests 300 \\
        --concurrency 16 --api-key "$API_KEY" --json out/cpu.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from benchmarks.workload import synthetic_texts

TICKS = os.sysconf("SC_CLK_TCK")


def _role(cmdline: str) -> str:
    if "ProxyActor" in cmdline or "haproxy" in cmdline.lower():
        return "proxy"
    if "ServeReplica:" in cmdline:
        deployment = cmdline.split("ServeReplica:", 1)[1].split()[0].split(":")[-1]
        return "ingress" if deployment.lower().endswith("ingress") else "model"
    return "control"


def cluster_processes(run_dir: str, proc_file: str) -> Iterator[tuple[str, str, str]]:
    """(pid, command line, text of /proc/PID/proc_file) for each process of the cluster
    started with ``run_dir`` (its environment carries RUN_DIR), this process excepted: the
    client, started with the cluster's environment by run_cpu.sh, is not the server."""
    marker = f"RUN_DIR={run_dir}".encode()
    me = str(os.getpid())
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if pid == me:
            continue
        try:
            if marker not in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                continue
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            text = Path(f"/proc/{pid}/{proc_file}").read_text()
        except OSError:  # gone, or not ours to read
            continue
        yield pid, cmdline, text


def cpu_by_role(run_dir: str) -> dict[str, float]:
    """CPU seconds used so far by the processes of the cluster started with ``run_dir``."""
    totals: dict[str, float] = {}
    for _, cmdline, stat in cluster_processes(run_dir, "stat"):
        fields = stat.rsplit(")", 1)[1].split()
        role = _role(cmdline)
        totals[role] = totals.get(role, 0.0) + (int(fields[11]) + int(fields[12])) / TICKS
    return totals


# What a sampled stack was doing: the frame nearest the leaf that matches a bucket names
# it (a request's stack runs through Ray's loop and our middleware at the root, so the
# innermost known frame is what it was busy with). py-spy prints a frame as
# "function (path:line)", paths relative to sys.path; time in C++ (the engines, the
# tokenizer's Rust) counts for the Python frame that called it.
PROFILE_BUCKETS: list[tuple[str, re.Pattern[str]]] = [
    (
        "forward pass",
        re.compile(
            r"\((?:.*/)?(?:models/embedding/backends\.py|torch/nn/modules/|openvino/|onnxruntime/)"
            r"|^<lambda> \((?:.*/)?models/embedding/encoder\.py"
        ),
    ),
    (
        "tokenization",
        re.compile(
            r"^(?:_tokenize|_input_ids|token_lengths) \((?:.*/)?models/embedding/encoder\.py"
            r"|\((?:.*/)?(?:transformers/tokenization|tokenizers/)"
        ),
    ),
    ("pooling, checks", re.compile(r"^encode \((?:.*/)?models/embedding/encoder\.py")),
    ("batching, replica code", re.compile(r"\((?:.*/)?deployments/models/")),
    ("ingress code", re.compile(r"\((?:.*/)?deployments/")),
    (
        "HTTP, validation, JSON",
        re.compile(r"\((?:.*/)?(?:starlette|fastapi|uvicorn|pydantic|h11|httptools|orjson)/"),
    ),
    ("Ray (handles, RPC, event loop)", re.compile(r"\((?:.*/)?ray/")),
]
OTHER = "other"


def classify(stack: str) -> str:
    for frame in reversed(stack.split(";")):
        for bucket, pattern in PROFILE_BUCKETS:
            if pattern.search(frame):
                return bucket
    return OTHER


def profile_shares(raw: str) -> dict[str, float]:
    """Share of samples per bucket, from py-spy's ``--format raw`` (collapsed stacks)."""
    counts: dict[str, int] = {}
    for line in raw.splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            bucket = classify(stack)
            counts[bucket] = counts.get(bucket, 0) + int(n)
    total = sum(counts.values()) or 1
    return {b: counts[b] / total for b in sorted(counts, key=counts.__getitem__, reverse=True)}


async def _drive(
    url: str, body: dict, headers: dict, requests: int, concurrency: int, until: Any = None
) -> float:
    """Send ``requests`` requests, or with ``until`` (a callable) until it returns True."""
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) as c:
        for _ in range(min(20, requests)):  # warm connections and replicas
            (await c.post("/v1/embeddings", json=body)).raise_for_status()
        queue = iter(range(requests)) if until is None else iter(until, True)

        async def worker() -> None:
            for _ in queue:
                (await c.post("/v1/embeddings", json=body)).raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


def replica_pids(run_dir: str) -> dict[str, str]:
    """pid of the first model and the first ingress replica of the cluster, by role."""
    found: dict[str, str] = {}
    for pid, cmdline, _ in cluster_processes(run_dir, "stat"):
        role = _role(cmdline)
        if role in ("model", "ingress"):  # Serve replicas only (_role)
            found.setdefault(role, pid)
    return found


def profile(
    url: str, run_dir: str, seconds: float, concurrency: int, body: dict, headers: dict
) -> dict[str, dict[str, float]]:
    """py-spy on the model and ingress replicas for ``seconds`` under load."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    out = Path(tempfile.mkdtemp(prefix="cpu-cost-spy-"))
    procs = {
        role: subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                pid,
                "--duration",
                str(int(seconds)),
                "--rate",
                "200",
                "--nonblocking",
                "--format",
                "raw",
                "--output",
                str(out / f"{role}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for role, pid in replica_pids(run_dir).items()
    }
    asyncio.run(
        _drive(
            url,
            body,
            headers,
            10**9,
            concurrency,
            until=lambda: all(p.poll() is not None for p in procs.values()),
        )
    )
    shares = {}
    for role, proc in procs.items():
        path = out / f"{role}.txt"
        if proc.wait() == 0 and path.is_file():
            shares[role] = profile_shares(path.read_text())
    shutil.rmtree(out, ignore_errors=True)
    return shares


def measure(
    url: str,
    run_dir: str,
    requests: int,
    concurrency: int,
    api_key: str | None,
    model: str,
    texts: int = 1,
    text_length: int = 8,
    profile_seconds: float = 0.0,
) -> dict[str, Any]:
    sample = synthetic_texts(texts, text_length, seed=0)
    body = {"input": sample if texts > 1 else sample[0], "model": model}
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    before = cpu_by_role(run_dir)
    wall = asyncio.run(_drive(url, body, headers, requests, concurrency))
    after = cpu_by_role(run_dir)
    per_request = {
        role: (after[role] - before.get(role, 0.0)) * 1000 / requests for role in sorted(after)
    }
    shares = (
        profile(url, run_dir, profile_seconds, concurrency, body, headers)
        if profile_seconds
        else {}
    )
    return {
        "profile": shares,
        "requests": requests,
        "concurrency": concurrency,
        "texts_per_request": texts,
        "text_length": text_length,
        "req_per_s": requests / wall,
        "cpu_ms_per_request": per_request,
        "total_cpu_ms_per_request": sum(per_request.values()),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cpu_cost", description=__doc__)
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--run-dir", required=True, help="RUN_DIR the cluster was started with")
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--texts-per-request", type=int, default=1)
    p.add_argument("--text-length", type=int, default=8)
    p.add_argument("--model", default="all-MiniLM-L6-v2")
    p.add_argument("--api-key", default=os.environ.get("API_KEY"))
    p.add_argument(
        "--profile-seconds",
        type=float,
        default=0.0,
        help="then sample the model and ingress replicas with py-spy this long",
    )
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    report = measure(
        args.url,
        str(Path(args.run_dir).resolve()),
        args.requests,
        args.concurrency,
        args.api_key or None,
        args.model,
        args.texts_per_request,
        args.text_length,
        args.profile_seconds,
    )
    for role, ms in report["cpu_ms_per_request"].items():
        print(f"{role:>8}  {ms:6.2f} ms/request")
    print(f"{'total':>8}  {report['total_cpu_ms_per_request']:6.2f} ms/request")
    for role, shares in report["profile"].items():
        print(f"{role} samples: " + ", ".join(f"{b} {v:.0%}" for b, v in shares.items()))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
