"""promtool, Prometheus's own checker, for the tests of the monitoring config.

These checks are required: without promtool a test fails, unless ALLOW_NO_PROMETHEUS=1
says that skipping them is intended (e.g. a machine where Debian's package is not at hand).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

INSTALL_HINT = "apt-get install prometheus (it ships promtool)"


def promtool() -> str:
    path = shutil.which("promtool")
    if path is not None:
        return path
    if os.environ.get("ALLOW_NO_PROMETHEUS") == "1":
        pytest.skip("promtool not installed and ALLOW_NO_PROMETHEUS=1")
    pytest.fail(f"promtool not found: {INSTALL_HINT}, or set ALLOW_NO_PROMETHEUS=1 to skip")


def run_promtool(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run promtool; fail the test with its whole output if it exits non-zero."""
    proc = subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        pytest.fail(
            f"promtool {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc
