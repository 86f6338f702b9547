"""benchmarks/autoscaling_ab.py's analysis on a recorded run of known shape: p99 per phase,
time until a 5 s window's p99 is back under the target, replica-seconds, and the RESULTS.md
section replaced in place with every other line kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.autoscaling_ab import SECTION, analyse, parse_schedule, render
from benchmarks.results import keep_own_sections, write_section


def recorded() -> dict[str, Any]:
    """10 s at 4 in flight (50 ms), 30 s at 32 (1 s until t=22, then 100 ms), 10 s at 4."""
    requests = []
    for i in range(500):
        t = i * 0.1
        latency = 0.05 if t < 10 or t >= 40 else (1.0 if t < 22 else 0.1)
        requests.append((t, latency, 200))
    requests.append((15.0, 0.01, 503))
    replicas = [(float(t), 1 if t < 12 else 2) for t in range(51)]
    return {
        "policy": "default",
        "phases": [[4, 10], [32, 30], [4, 10]],
        "requests": requests,
        "replicas": replicas,
    }


def test_analysis_of_a_known_run() -> None:
    row = analyse(recorded(), target_ms=150)
    assert row["p99_before_ms"] == 50.0
    assert row["p99_step_ms"] == 1000.0
    # Requests finishing in [t-5, t) all fast from t = 22 + 1 s (the last slow one ends at
    # 22.9) + 5 s: first such 1 s-aligned window ends at 28 s, 18 s after the step began.
    assert row["recover_s"] == 18.0
    assert row["replica_s"] == 12 * 1 + 38 * 2
    assert row["max_replicas"] == 2
    assert row["failed"] == 1


def test_never_recovering_says_so() -> None:
    assert analyse(recorded(), target_ms=20)["recover_s"] is None
    section = render([analyse(recorded(), target_ms=20)], 20, "cmd", "4:10,32:30,4:10")
    assert "| default | 50 | 1000 | never |" in section


def test_schedule_parsing() -> None:
    assert [(p.in_flight, p.seconds) for p in parse_schedule("4:30,32:90")] == [(4, 30), (32, 90)]


def test_section_is_replaced_in_place(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text(f"# Results\n\nintro\n\n{SECTION}\n\nold\n\n## Later\n\nkept\n")
    write_section(results, SECTION, f"{SECTION}\n\nnew\n")
    assert results.read_text() == f"# Results\n\nintro\n\n{SECTION}\n\nnew\n\n## Later\n\nkept\n"
    other = tmp_path / "OTHER.md"
    other.write_text("# Results\n")
    write_section(other, SECTION, f"{SECTION}\n\nnew\n")
    assert other.read_text() == f"# Results\n\n{SECTION}\n\nnew\n"


def test_report_rewrite_keeps_the_sections_other_benchmarks_own() -> None:
    """`make bench` rewrites RESULTS.md from report.py; the A/B, generation and soak
    sections written by their own commands survive it, in order, and nothing else does."""
    old = (
        "# Results\n\n## Summary\n\nstale\n\n## Soak\n\nsoak verdict\n\n"
        f"{SECTION}\n\nab table\n\n## Text generation\n\ngen table\n### sub\n\nmore\n"
    )
    new = keep_own_sections(old, "# Results\n\n## Summary\n\nfresh\n")
    assert new == (
        "# Results\n\n## Summary\n\nfresh\n\n"
        f"{SECTION}\n\nab table\n\n## Text generation\n\ngen table\n### sub\n\nmore\n\n"
        "## Soak\n\nsoak verdict\n"
    )
    assert keep_own_sections("", "# R\n") == "# R\n"
