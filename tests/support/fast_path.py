"""The fast-path environment `make up` runs with, read from cluster/local/env.sh itself.

Every other way to start the cluster (the launcher, KubeRay) must export the same
switches; their tests compare against this instead of a copy of the values. Any other
value env.sh derives (a test cluster's RAY_TMPDIR...) is read the same way.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV_SH = ROOT / "cluster" / "local" / "env.sh"
# Serve's switches that select the request path; read at import by every Ray process.
SWITCHES = ("RAY_SERVE_THROUGHPUT_OPTIMIZED", "RAY_SERVE_ENABLE_HA_PROXY")


def env_sh_values(names: Sequence[str], env: Mapping[str, str]) -> dict[str, str]:
    """What env.sh sets `names` to when sourced in `env` (ports, paths, switches)."""
    script = f'source "{ENV_SH}" && printf "%s\\0" ' + " ".join(f'"${name}"' for name in names)
    out = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, check=True, timeout=30
    ).stdout
    return dict(zip(names, out.split("\0")[: len(names)], strict=True))


def local_fast_path_env() -> dict[str, str]:
    """What env.sh exports for the default FAST_PATH, in a clean environment."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    return env_sh_values(SWITCHES, env)
