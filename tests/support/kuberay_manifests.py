"""The committed KubeRay manifests (cluster/kuberay/, written by generate.py) as tests read them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

KUBERAY = Path(__file__).resolve().parents[2] / "cluster" / "kuberay"
MANIFESTS = {"cpu": KUBERAY / "rayservice.yaml", "gpu": KUBERAY / "rayservice-gpu.yaml"}


def load_manifest(profile: str) -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load(MANIFESTS[profile].read_text())
    return manifest


def serve_config(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest's serveConfigV2: a Serve config held as a YAML string."""
    config: dict[str, Any] = yaml.safe_load(manifest["spec"]["serveConfigV2"])
    return config
