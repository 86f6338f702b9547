"""The curl examples in the README run against the real cluster and answer as documented."""

from __future__ import annotations

import json
import os
import re
import subprocess

from tests.support.live_cluster import ROOT, LiveCluster


def readme_examples() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Examples", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "README Examples section has no bash block"
    commands = block.group(1).replace("\\\n", " ").strip().splitlines()
    return [c.strip() for c in commands if c.strip().startswith("curl ")]


def test_readme_has_examples() -> None:
    assert len(readme_examples()) >= 4
    # The key comes from the reader's shell, set from what `make up` printed.
    assert "export API_KEY=" in (ROOT / "README.md").read_text().split("## Examples", 1)[1]


def test_readme_examples_work(cluster: LiveCluster) -> None:
    env = os.environ | {"API_KEY": cluster.keys["admin"]}
    outputs = []
    for command in readme_examples():
        command = command.replace("127.0.0.1:8000", f"127.0.0.1:{cluster.http_port}")
        done = subprocess.run(
            ["bash", "-c", command], capture_output=True, text=True, timeout=60, check=True, env=env
        )
        outputs.append(json.loads(done.stdout))
    first, packed, models, ready, rejected, anonymous = outputs
    assert [len(d["embedding"]) for d in first["data"]] == [384, 384]
    assert isinstance(packed["data"][0]["embedding"], str)
    assert models["data"][0]["id"] == "all-MiniLM-L6-v2"
    assert ready["status"] == "ready"
    assert rejected == {
        "error": {
            "message": "input must not be empty",
            "type": "invalid_request_error",
            "param": "input",
            "code": "invalid_input",
        }
    }
    assert anonymous["error"]["code"] == "missing_credentials"
