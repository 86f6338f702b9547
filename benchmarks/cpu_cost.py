"""Where the CPU goes: CPU milliseconds per request in each process of one Ray cluster.

Sends N requests at concurrency C to `/v1/embeddings` (or any route), and reads each
process's user+system CPU time from /proc before and after. Processes are those whose
environment carries the cluster's RUN_DIR (so another cluster on the machine does not
count), grouped by role: proxy (Serve's proxy or HAProxy and its manager), ingress, model,
control (controller, GCS, raylet, dashboard...). On a CPU-bound box, 1000 / (total ms per
request) x cores bounds req/s, whatever the latency.

    python -m benchmarks.cpu_cost --url http://127.0.0.1:8000 --run-dir .run --requests 300 \\
        --concurrency 16 --api-key "$API_KEY" --json out/cpu.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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


async def _drive(url: str, body: dict, headers: dict, requests: int, concurrency: int) -> float:
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) as c:
        for _ in range(min(20, requests)):  # warm connections and replicas
            (await c.post("/v1/embeddings", json=body)).raise_for_status()
        queue = iter(range(requests))

        async def worker() -> None:
            for _ in queue:
                (await c.post("/v1/embeddings", json=body)).raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


def measure(
    url: str,
    run_dir: str,
    requests: int,
    concurrency: int,
    api_key: str | None,
    model: str,
    texts: int = 1,
    text_length: int = 8,
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
    return {
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
    )
    for role, ms in report["cpu_ms_per_request"].items():
        print(f"{role:>8}  {ms:6.2f} ms/request")
    print(f"{'total':>8}  {report['total_cpu_ms_per_request']:6.2f} ms/request")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
