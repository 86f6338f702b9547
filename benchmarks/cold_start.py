"""Cold start: seconds from `make up` to the first 200 from /v1/embeddings.

Runs the real `make up` (with .venv already bootstrapped: installing packages is not part
of a start) in a fresh run directory, so no earlier cluster state, key or warm replica
helps; polls the API from the moment it starts; then `make down`. Needs the default ports
of `make up` (8000, 6379, 8265, ...) free, i.e. no `make up` cluster running.

    python -m benchmarks.cold_start --json out/cold_start.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
MODEL = "all-MiniLM-L6-v2"


def _first_ok(url: str, key: str, started: float, stop: threading.Event) -> float | None:
    body = {"input": "cold start", "model": MODEL}
    headers = {"Authorization": f"Bearer {key}"}
    while not stop.is_set():
        try:
            r = httpx.post(f"{url}/v1/embeddings", json=body, headers=headers, timeout=5)
            if r.status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return None


def measure(url: str = "http://127.0.0.1:8000", timeout_s: float = 300) -> dict:
    with tempfile.TemporaryDirectory(prefix="rsic-cold-") as tmp:
        run_dir = Path(tmp) / "run"
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        env["RUN_DIR"] = str(run_dir)
        keys_file = run_dir / "api_keys.json"
        env["RSIC_API_KEYS_FILE"] = str(keys_file)
        run_dir.mkdir()
        python = str(ROOT / ".venv" / "bin" / "python")
        key = subprocess.run(
            [
                *(python, "-m", "deployments.security.manage_keys"),
                *("--file", str(keys_file), "add", "cold"),
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env=env,
        ).stdout.split()[0]
        stop = threading.Event()
        result: dict[str, float | None] = {}
        started = time.monotonic()
        poller = threading.Thread(
            target=lambda: result.update(first_200_s=_first_ok(url, key, started, stop))
        )
        poller.start()
        try:
            up = subprocess.run(
                ["make", "up"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout_s,
            )
            make_up_s = time.monotonic() - started
            if up.returncode != 0:
                raise RuntimeError(f"make up failed:\n{up.stdout}\n{up.stderr}")
            poller.join(timeout=max(1.0, timeout_s - make_up_s))
        finally:
            stop.set()
            poller.join()
            subprocess.run(["make", "down"], cwd=ROOT, env=env, capture_output=True)
            # make down keeps Ray's temp dir (logs), as it should for a real cluster; this
            # one was throwaway.
            stop_sh = str(ROOT / "cluster" / "local" / "stop.sh")
            subprocess.run([stop_sh, "--purge"], cwd=ROOT, env=env, capture_output=True)
    seconds = result.get("first_200_s")
    if seconds is None:
        raise RuntimeError("no 200 from /v1/embeddings after make up")
    return {"command": "make up", "seconds": seconds, "make_up_s": make_up_s, "url": url}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cold_start", description=__doc__)
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    report = measure(args.url, args.timeout)
    print(
        f"make up -> first 200: {report['seconds']:.1f} s (make up returned after "
        f"{report['make_up_s']:.1f} s)"
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
