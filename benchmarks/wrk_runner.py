"""loadgen's wrk engine: /usr/bin/wrk with a generated Lua script, as a cross-check of the
Python engine with a C client (closed loop, one fixed payload, --duration only)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter

from benchmarks.workload import PATH, Step, Workload, summarize

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
