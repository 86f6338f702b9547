"""A real Ray cluster for the test session, started with the same scripts as `make up`.

It gets its own run directory and free ports, so it can run beside a cluster from
`make up`; `serve deploy` puts serve_config.yaml (HTTP port changed) on it, plus a small
"tight" application whose limits are low enough to hit on purpose.

Credentials are set up as for `make up`: a keys file (hashes only) in the cluster's RUN_DIR,
plus a JWT issuer's JWKS and HS256 secret, all found by the replicas through RSIC_*
variables in the environment of `ray start`. The main app keeps serve_config.yaml's
authentication; the tight app turns it off explicitly (`auth.enabled: false`), which both
exercises that switch and keeps its low-limit tests about limits.
"""

from __future__ import annotations

import copy
import json
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.credentials import JwtIssuer, issue_keys
from tests.support.fast_path import env_sh_values

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / "cluster" / "local"
MODEL = "all-MiniLM-L6-v2"
# The demo generator of serve_config.yaml (random weights), built by `make models`.
GENERATOR = "tiny-gpt2"
GENERATOR_DIR = ROOT / "model_repository" / "tiny-gpt2"
TIGHT_PREFIX = "/tight"
# A scope whose rate limit is low enough to hit on purpose (per ingress replica).
TRICKLE_SCOPE = "test:trickle"
TRICKLE_RATE, TRICKLE_BURST = 0.2, 3
# Test keys by name, with their scopes.
KEY_SCOPES = {
    "admin": ["models:*", "admin"],
    "trickle": ["models:*", TRICKLE_SCOPE],
    "other-model": ["models:some-other-model"],
}


# Ports handed out by free_port in this process: never twice in one session.
_GIVEN_PORTS: set[int] = set()
# Above Ray's worker ports (10002-19999 by default).
_PORT_BAND_LOW = 20000


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port free now, below the kernel's ephemeral range. A port from bind(0) is an
    ephemeral one, which any later bind(0) or outgoing connection of Ray's may take
    before our process binds it: a fresh-clone `make test` lost test_head_restart's
    cluster to HAProxy's stats port that way ("cannot bind socket (Address already in
    use)" on port 41867).
    """
    high = _ephemeral_low()
    for _ in range(1000):
        port = random.randrange(_PORT_BAND_LOW, high)
        if port in _GIVEN_PORTS:
            continue
        try:
            with socket.socket() as s:
                s.bind(("0.0.0.0", port))  # HAProxy binds every address
        except OSError:
            continue
        _GIVEN_PORTS.add(port)
        return port
    raise RuntimeError(f"no free port in {_PORT_BAND_LOW}-{high - 1}")


def base_config() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "serve_config.yaml").read_text())


def build_models() -> None:
    """What `make models` builds, if missing: the example model repository and the demo
    generator that serve_config.yaml serves."""
    subprocess.run(
        [
            *(sys.executable, "-m", "deployments.examples.iris_classifier"),
            *("--root", str(ROOT / "model_repository"), "--only-missing"),
        ],
        cwd=ROOT,
        check=True,
        timeout=300,
    )
    # One built before the demo model had a chat template is rebuilt (as `make models` does).
    if not (GENERATOR_DIR / "chat_template.jinja").is_file():
        subprocess.run(
            [sys.executable, "-m", "deployments.examples.tiny_gpt2", "--out", str(GENERATOR_DIR)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=300,
        )


def embeddings_only(app: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``app`` serving its embedding models only: apps derived for embedding
    tests need no predictor or generator replicas of their own (CPU shares are scarce)."""
    app = copy.deepcopy(app)
    app["args"].pop("predictors", None)
    app["args"].pop("multiplexed", None)
    names = {g["name"] for g in app["args"].pop("generators", [])}
    app["deployments"] = [d for d in app["deployments"] if d["name"] not in names]
    return app


def tight_app(main_app: dict[str, Any]) -> dict[str, Any]:
    """The main app with tiny limits: one model replica that admits one request at a time."""
    app = embeddings_only(main_app)
    app["name"] = "tight"
    app["route_prefix"] = TIGHT_PREFIX
    model = app["args"]["models"][0]
    model.update(truncate=False, max_seq_length=16)
    app["args"]["limits"] = {
        "max_request_bytes": 2048,
        "max_inputs_per_request": 4,
        "max_input_chars": 200,
        "retry_after_s": 3,
    }
    app["args"]["auth"] = {"enabled": False}
    app["args"]["rate_limits"] = {"default": None}
    ingress, model_dep = app["deployments"]
    ingress.pop("autoscaling_config")
    ingress.update(num_replicas=1, ray_actor_options={"num_cpus": 0.05})
    model_dep.pop("autoscaling_config")
    model_dep.update(
        num_replicas=1,
        max_ongoing_requests=1,
        max_queued_requests=1,
        ray_actor_options={"num_cpus": 0.1},
        user_config={"max_batch_size": 4, "batch_wait_timeout_s": 0.0},
    )
    return app


def open_app(main_app: dict[str, Any], name: str) -> dict[str, Any]:
    """The main app under its own name and route prefix (/NAME), without auth or rate
    limits, for a test that needs replicas of its own to scale, kill or replace."""
    app = embeddings_only(main_app)
    app["name"] = name
    app["route_prefix"] = f"/{name}"
    app["args"]["auth"] = {"enabled": False}
    app["args"]["rate_limits"] = {"default": None}
    return app


def deployment(app: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(d for d in app["deployments"] if d["name"] == name)
    return found


def fast_autoscaling(target_ongoing_requests: float, **extra: Any) -> dict[str, Any]:
    """An autoscaling_config between 1 and 2 replicas whose delays are seconds rather than
    serve_config.yaml's minutes, so a test sees it scale out and back within one load."""
    return {
        "min_replicas": 1,
        "max_replicas": 2,
        "target_ongoing_requests": target_ongoing_requests,
        "upscale_delay_s": 1,
        "downscale_delay_s": 5,
        "metrics_interval_s": 0.5,
        "look_back_period_s": 2,
        **extra,
    }


def one_ingress_app(main_app: dict[str, Any], name: str) -> dict[str, Any]:
    """open_app with one small, fixed ingress replica: for a test that scales, breaks or
    replaces the model's replicas and needs the ingress out of the way."""
    app = open_app(main_app, name)
    ingress = deployment(app, "Ingress")
    ingress.pop("autoscaling_config")
    ingress.update(num_replicas=1, ray_actor_options={"num_cpus": 0.05})
    return app


def redundant_app(main_app: dict[str, Any], name: str) -> dict[str, Any]:
    """Two fixed replicas of the ingress and of the model, small CPU shares."""
    app = open_app(main_app, name)
    for dep, cpus in (("Ingress", 0.05), (MODEL, 0.1)):
        d = deployment(app, dep)
        d.pop("autoscaling_config")
        d.update(num_replicas=2, ray_actor_options={"num_cpus": cpus})
    return app


@dataclass
class LiveCluster:
    run_dir: Path
    env: dict[str, str]
    http_port: int
    metrics_port: int
    keys: dict[str, str]
    issuer: JwtIssuer
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def keys_file(self) -> Path:
        return Path(self.env["RSIC_API_KEYS_FILE"])

    def auth_headers(self, key: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[key]}"}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def tight_url(self) -> str:
        return self.base_url + TIGHT_PREFIX

    def script(self, name: str, *args: str, timeout: float = 300) -> str:
        proc = subprocess.run(
            [str(LOCAL / name), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{name} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout

    def deploy(self, config: dict[str, Any]) -> None:
        path = self.run_dir / "serve_config.test.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.script("deploy.sh", str(path))
        self.config = config

    def serve_status(self) -> dict[str, Any]:
        out = subprocess.run(
            ["serve", "status"], env=self.env, capture_output=True, text=True, check=True
        ).stdout
        status: dict[str, Any] = yaml.safe_load(out)
        return status

    def probe(self, command: str, app: str, deployment: str, timeout: float = 30) -> Any:
        """tests/support/cluster_probe.py against this cluster (a Ray driver in a subprocess)."""
        address = f"127.0.0.1:{self.env['RAY_PORT']}"
        argv = [command, address, app, deployment, str(timeout)]
        proc = subprocess.run(
            [sys.executable, "-m", "tests.support.cluster_probe", *argv],
            # Ray's state API finds its cluster by itself, and fails when this machine runs
            # several (`make up`, other test sessions): name ours.
            env=self.env | {"RAY_ADDRESS": address},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout + 60,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"cluster_probe {command} failed:\n{proc.stdout}\n{proc.stderr}")
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def serve_details(self) -> dict[str, Any]:
        """The Serve REST API's view (what `serve status` prints, plus each replica's state
        and node): one HTTP call, where the CLI costs seconds of start-up on a busy box."""
        token = self.env.get("RAY_AUTH_TOKEN") or (
            Path(self.env.get("RAY_AUTH_TOKEN_PATH", Path.home() / ".ray" / "auth_token"))
            .read_text()
            .strip()
        )
        r = httpx.get(
            f"{self.env['RAY_DASHBOARD_ADDRESS']}/api/serve/applications/",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        r.raise_for_status()
        details: dict[str, Any] = r.json()
        return details

    def replicas(self, app: str, deployment: str) -> list[dict[str, Any]]:
        apps = self.serve_details().get("applications") or {}
        dep = (apps.get(app) or {}).get("deployments", {}).get(deployment) or {}
        found: list[dict[str, Any]] = dep.get("replicas") or []
        return found

    def running_replicas(self, app: str, deployment: str) -> int:
        return sum(r["state"] == "RUNNING" for r in self.replicas(app, deployment))

    @contextmanager
    def extra_app(self, app: dict[str, Any]) -> Iterator[str]:
        """Deploy `app` beside the session's apps; yield its URL; remove it afterwards
        (redeploying the config without it) so later tests see the cluster unchanged."""
        original = copy.deepcopy(self.config)
        with_app = copy.deepcopy(original)
        with_app["applications"].append(app)
        self.deploy(with_app)
        try:
            yield self.base_url + app["route_prefix"]
        finally:
            self.deploy(original)

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        prefixes = [a["route_prefix"].rstrip("/") for a in self.config["applications"]]
        for url in (self.base_url + prefix for prefix in prefixes):
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{url}/readyz not ready after {timeout} s")
                time.sleep(0.5)

    def stop(self) -> None:
        """stop.sh, then prove nothing of this cluster's process session is left, nor its
        Ray temp dir (--purge: a test cluster's logs go with its run dir)."""
        # The head's session and those of any worker nodes (add_worker.sh).
        sids = [f.read_text().strip() for f in self.run_dir.glob("*.sid")]
        ray_tmpdir = env_sh_values(["RAY_TMPDIR"], self.env)["RAY_TMPDIR"]
        self.script("stop.sh", "--purge", timeout=120)
        assert ray_tmpdir and not Path(ray_tmpdir).exists(), f"{ray_tmpdir} left after stop"
        for sid in sids:
            left = subprocess.run(["pgrep", "-s", sid], capture_output=True, text=True).stdout
            assert not left.strip(), f"ray processes left after stop.sh: {left.split()}"


def test_config(http_port: int) -> dict[str, Any]:
    config = base_config()
    config["http_options"]["port"] = http_port
    main = config["applications"][0]
    main["args"].setdefault("rate_limits", {}).setdefault("by_scope", {})[TRICKLE_SCOPE] = {
        "requests_per_s": TRICKLE_RATE,
        "burst": TRICKLE_BURST,
    }
    config["applications"].append(tight_app(main))
    return config


def start_cluster(
    run_dir: Path,
    extra_env: dict[str, str] | None = None,
    config: Callable[[int], dict[str, Any]] = test_config,
) -> LiveCluster:
    """A private cluster; `extra_env` for start.sh (e.g. WORKERS=2), `config` builds the
    Serve config from the HTTP port."""
    ports = {
        name: str(free_port())
        for name in (
            "RAY_PORT",
            "DASHBOARD_PORT",
            "METRICS_PORT",
            "CLIENT_PORT",
            "AGENT_PORT",
            "AGENT_GRPC_PORT",
            "RUNTIME_ENV_AGENT_PORT",
            "SERVE_PORT",
            # Serve's fast path (cluster/local/env.sh): HAProxy's and the fallback proxy's.
            "HAPROXY_STATS_PORT",
            "HAPROXY_METRICS_PORT",
            "FALLBACK_PROXY_PORT",
            # GCS fault tolerance (env.sh GCS_FT=redis): the GCS's Redis.
            "REDIS_PORT",
        )
    }
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RAY_", "PYTEST_", "RSIC_")) or k == "RAY_AUTH_TOKEN"
    }
    keys_file = run_dir / "api_keys.json"
    keys = issue_keys(keys_file, KEY_SCOPES)
    issuer = JwtIssuer()
    # Replicas inherit these from `ray start`, as they do from cluster/local/env.sh.
    env |= issuer.write(run_dir) | {"RSIC_API_KEYS_FILE": str(keys_file)}
    env |= ports | {
        "RUN_DIR": str(run_dir),
        "HEAD_CPUS": "2",
        # Serve waits this long for in-flight requests before a replica shuts down.
        "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "1",
    }
    env |= extra_env or {}
    # The scripts prepend .venv/bin; run them with the same env so `serve` resolves.
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}:{env.get('PATH', '')}"
    env["RAY_DASHBOARD_ADDRESS"] = f"http://127.0.0.1:{ports['DASHBOARD_PORT']}"
    env["RAY_AUTH_MODE"] = "token"
    cluster = LiveCluster(
        run_dir=run_dir,
        env=env,
        http_port=int(ports["SERVE_PORT"]),
        metrics_port=int(ports["METRICS_PORT"]),
        keys=keys,
        issuer=issuer,
    )
    build_models()
    cluster.script("start.sh", timeout=120)
    try:
        cluster.deploy(config(cluster.http_port))
        cluster.wait_ready()
    except BaseException:
        cluster.stop()
        raise
    return cluster
