"""cluster/local/redis.sh, the Redis behind the local GCS (GCS_FT=redis), run for real:
loopback only, a 0600 password that it demands, data under the run dir, and `stop`
leaves no process and no data behind. Takes well under a second; no Ray involved."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support.fast_path import env_sh_values
from tests.support.live_cluster import free_port

ROOT = Path(__file__).resolve().parents[3]
REDIS_SH = ROOT / "cluster" / "local" / "redis.sh"

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server not installed (make bootstrap)"
)


def test_start_demands_its_password_and_stop_leaves_nothing(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "RUN_DIR": str(tmp_path),
        "REDIS_PORT": str(free_port()),
    }

    def redis_sh(*args: str) -> str:
        return subprocess.run(
            [str(REDIS_SH), *args], env=env, capture_output=True, text=True, check=True, timeout=30
        ).stdout

    try:
        redis_sh("start")
        pid = int((tmp_path / "redis" / "redis.pid").read_text())
        password_file = tmp_path / "redis" / "password"
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        password = password_file.read_text()
        assert len(password) == 64
        assert "already running" in redis_sh("start")  # a second start keeps the first
        cli = ["redis-cli", "-h", "127.0.0.1", "-p", env["REDIS_PORT"]]
        assert "NOAUTH" in subprocess.run([*cli, "ping"], capture_output=True, text=True).stdout
        authed = subprocess.run(
            [*cli, "config", "get", "bind"],
            env=env | {"REDISCLI_AUTH": password},
            capture_output=True,
            text=True,
        ).stdout.split()
        assert authed == ["bind", "127.0.0.1"]
        assert Path(f"/proc/{pid}/cwd").resolve() == tmp_path / "redis" / "data"
    finally:
        redis_sh("stop")
    assert not Path(f"/proc/{pid}").exists(), "redis-server left running"
    assert not (tmp_path / "redis" / "data").exists()
    assert password_file.read_text() == password  # kept: the next start uses the same one


def test_each_run_dir_gets_its_own_port() -> None:
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    ports = {
        env_sh_values(["REDIS_PORT"], env | {"RUN_DIR": f"/tmp/run-{i}"})["REDIS_PORT"]
        for i in range(5)
    }
    assert len(ports) == 5
    assert all(20000 <= int(p) < 30000 for p in ports)
