"""benchmarks/soak.py's bookkeeping on made-up samples: which processes it names, the
second-half growth, the verdict, and that the report and plot render. The soak itself
runs against a live cluster (benchmarks/run_soak.sh), never in the test suite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.soak import GROWTH_GOAL, growth, markdown, plot, process_name, verdict


def test_names_serve_processes_and_skips_the_rest() -> None:
    assert process_name("ray::ServeReplica:embeddings:all-MiniLM-L6-v2") == (
        "replica all-MiniLM-L6-v2"
    )
    assert process_name("ray::ServeController") == "serve controller"
    assert process_name("ray::ProxyActor") == "serve proxy"
    assert process_name("/usr/sbin/haproxy -f /tmp/h/haproxy.cfg") == "haproxy"
    assert process_name("/x/ray/core/src/ray/gcs/gcs_server --log_dir=/y") == "gcs_server"
    assert process_name("/x/ray/core/src/ray/raylet/raylet --raylet_socket_name=/y") == "raylet"
    assert process_name("bash -c sleep 1") is None


def result(end_mib: float, failed: int = 0) -> dict[str, Any]:
    rss = [
        {"model [1]": mib, "ingress [2]": 300.0} for mib in (900.0, 1000.0, 1000.0, 1010.0, end_mib)
    ]
    rss[0]["gone [3]"] = 50.0  # a process that did not last: no growth figure
    samples = [
        {"t_s": 60 * i, "rss_mib": mib, "object_store_mib": 1.0} for i, mib in enumerate(rss)
    ]
    out: dict[str, Any] = {
        "config": {"duration_s": 240, "concurrency": 8},
        "samples": samples,
        "requests": {"embeddings": {"ok": 10, "failed": failed, "codes": {}, "examples": []}},
    }
    out["growth"] = growth(samples)
    out["verdict"] = verdict(out)
    return out


def test_growth_is_measured_from_the_middle_sample_to_the_last() -> None:
    r = result(end_mib=1030.0)
    assert r["growth"]["model [1]"] == {
        "first_mib": 900.0,
        "mid_mib": 1000.0,  # t=120 s, the middle of 240 s: the first half's warm-up is out
        "end_mib": 1030.0,
        "second_half_growth": 0.03,
    }
    assert r["growth"]["gone [3]"]["second_half_growth"] is None
    assert r["verdict"] == {"processes_over_goal": {}, "failed_requests": 0, "passed": True}


def test_verdict_fails_on_growth_over_the_goal_or_any_failed_request() -> None:
    grown = result(end_mib=1000.0 * (1 + GROWTH_GOAL) + 1)
    assert list(grown["verdict"]["processes_over_goal"]) == ["model [1]"]
    assert not grown["verdict"]["passed"]
    failed = result(end_mib=1000.0, failed=1)
    assert failed["verdict"]["failed_requests"] == 1 and not failed["verdict"]["passed"]


def test_report_and_plot_render(tmp_path: Path) -> None:
    r = result(end_mib=1030.0)
    text = markdown(r)
    assert "**PASS**" in text and "| model [1] | 900.0 | 1000.0 | 1030.0 | +3.0% |" in text
    plot(r, tmp_path / "soak_rss.png")
    assert (tmp_path / "soak_rss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_verdict_goes_into_results_md_as_its_own_section(tmp_path: Path) -> None:
    """`make soak` writes RESULTS.md's "Soak" section (re-rendered from soak.json with
    --report-only), its plot linked from benchmarks/; the rest of the file stays."""
    import json

    from benchmarks import soak

    r = result(end_mib=1030.0)
    (tmp_path / "soak.json").write_text(json.dumps(r))
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\n## Summary\n\nkept\n")
    rc = soak.main(["--report-only", "--out-dir", str(tmp_path), "--results", str(results)])
    text = results.read_text()
    assert rc == 0 and text.startswith("# Benchmark results\n\n## Summary\n\nkept\n\n## Soak\n")
    assert "**PASS**" in text and "![RSS over time](soak/soak_rss.png)" in text
    assert "![RSS over time](soak_rss.png)" in (tmp_path / "SOAK.md").read_text()
