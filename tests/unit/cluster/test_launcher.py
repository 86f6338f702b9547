"""cluster/launcher/cluster.yaml: valid for `ray up` and consistent with the project's pins."""

from __future__ import annotations

import copy
import json
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import ray.autoscaler
import yaml
from packaging.requirements import Requirement

from tests.support.fast_path import local_fast_path_env
from tests.support.kuberay_manifests import load_manifest, serve_config

ROOT = Path(__file__).resolve().parents[3]
CLUSTER_YAML = ROOT / "cluster" / "launcher" / "cluster.yaml"
RAY_SCHEMA = Path(ray.autoscaler.__file__).parent / "ray-schema.json"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def load_cluster() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(CLUSTER_YAML.read_text())
    return config


def project() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        meta: dict[str, Any] = tomllib.load(f)["project"]
    return meta


def pinned_ray_version() -> str:
    for dep in project()["dependencies"]:
        req = Requirement(dep)
        if req.name.lower() == "ray":
            (spec,) = req.specifier
            return spec.version
    raise AssertionError("pyproject.toml does not pin ray")


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(RAY_SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def errors(validator: jsonschema.Draft7Validator, config: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(config)
    ]


def test_matches_the_launcher_schema(validator: jsonschema.Draft7Validator) -> None:
    assert errors(validator, load_cluster()) == []


def misspell_setup_commands(config: dict[str, Any]) -> None:
    config["setup_command"] = config.pop("setup_commands")


def drop_provider(config: dict[str, Any]) -> None:
    del config["provider"]


def drop_worker_resources(config: dict[str, Any]) -> None:
    del config["available_node_types"]["ray.worker.cpu"]["resources"]


def negative_head_cpus(config: dict[str, Any]) -> None:
    config["available_node_types"]["ray.head.default"]["resources"] = {"CPU": -1}


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (misspell_setup_commands, "setup_command"),
        (drop_provider, "provider"),
        (drop_worker_resources, "resources"),
        (negative_head_cpus, "-1"),
    ],
    ids=["typo", "no-provider", "no-resources", "negative-cpu"],
)
def test_schema_check_rejects_bad_configs(
    validator: jsonschema.Draft7Validator,
    mutate: Callable[[dict[str, Any]], None],
    expected: str,
) -> None:
    config = load_cluster()
    mutate(config)
    found = errors(validator, config)
    assert any(expected in e for e in found), found


def test_passes_the_checks_ray_up_runs() -> None:
    # What `ray up` does to the file before touching AWS: merge the provider defaults,
    # check the Docker section, then validate (schema, head type, min vs max workers).
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(copy.deepcopy(load_cluster()))
    validate_config(prepared)
    assert prepared["head_node_type"] in prepared["available_node_types"]


def test_images_match_the_pinned_ray_version() -> None:
    version = pinned_ray_version()
    config = load_cluster()
    assert config["docker"]["image"] == f"rayproject/ray:{version}-py311"
    gpu = config["available_node_types"]["ray.worker.gpu"]
    assert gpu["docker"]["worker_image"] == f"rayproject/ray:{version}-py311-gpu"


def test_head_runs_no_replicas() -> None:
    head_type = load_cluster()["head_node_type"]
    assert load_cluster()["available_node_types"][head_type]["resources"] == {"CPU": 0}


def test_every_node_checks_out_the_project_release() -> None:
    config = load_cluster()
    tag = f"v{project()['version']}"
    install = re.compile(r"pip install .*-c ~/rsic/constraints\.txt .*-e ~/rsic$")
    gpu_setup = config["available_node_types"]["ray.worker.gpu"]["worker_setup_commands"]
    for commands in (config["setup_commands"], gpu_setup):
        checkout = [c for c in commands if "git -C ~/rsic checkout" in c]
        assert len(checkout) == 1 and checkout[0].endswith(f"checkout --quiet --force {tag}")
        assert any(install.search(c) for c in commands), commands
    # CPU nodes take torch's CPU wheel; GPU nodes need PyPI's CUDA build.
    assert any(TORCH_CPU_INDEX in c for c in config["setup_commands"])
    assert not any(TORCH_CPU_INDEX in c for c in gpu_setup)


def test_the_head_deploys_serve_config_after_every_start() -> None:
    commands = load_cluster()["head_start_ray_commands"]
    assert commands[0] == "ray stop"
    assert "ray start --head" in commands[1]
    assert "serve deploy ~/rsic/serve_config.yaml" in commands[-1]


def test_every_node_exports_metrics() -> None:
    config = load_cluster()
    for commands in (config["head_start_ray_commands"], config["worker_start_ray_commands"]):
        (start,) = [c for c in commands if "ray start" in c]
        assert "--metrics-export-port=8080" in start


def test_token_auth_is_on_and_the_token_reaches_every_node() -> None:
    config = load_cluster()
    options = config["docker"]["run_options"]
    assert "-e RAY_AUTH_MODE=token" in options
    (path_option,) = [o for o in options if o.startswith("-e RAY_AUTH_TOKEN_PATH=")]
    token_path = path_option.split("=", 1)[1]
    # The token file lies inside a mounted folder, which every node receives.
    mounted = [remote for remote in config["file_mounts"] if token_path.startswith(remote + "/")]
    assert mounted, f"{token_path} is not under any file_mounts target"
    # Never the token itself: only a path on the operator's machine.
    assert all(local.startswith("~/") for local in config["file_mounts"].values())


def test_all_node_types_share_one_ami() -> None:
    node_types = load_cluster()["available_node_types"].values()
    assert len({t["node_config"]["ImageId"] for t in node_types}) == 1


def test_vms_and_kubernetes_run_the_same_release() -> None:
    # Both download the code from one repository at the tag of the project version;
    # editing the URL in one place only would split the fleet across two sources.
    (app,) = serve_config(load_manifest("cpu"))["applications"]
    zip_url = app["runtime_env"]["working_dir"]
    repo, _, archive = zip_url.partition("/archive/refs/tags/")
    assert archive == f"v{project()['version']}.zip"

    (checkout,) = [c for c in load_cluster()["setup_commands"] if "git clone" in c]
    clone_url = re.search(r"git clone --quiet (\S+) ~/rsic", checkout)
    assert clone_url is not None
    assert clone_url.group(1) == repo + ".git"


def test_every_node_runs_the_local_fast_path() -> None:
    """The switches must be in the container's environment before `ray start`, and
    HAProxy refuses to start below ~10k open files at its default maxconn."""
    config = load_cluster()
    options = config["docker"]["run_options"]
    for name, value in local_fast_path_env().items():
        assert f"-e {name}={value}" in options
    assert "--ulimit nofile=65536:65536" in options
    for commands in (config["head_start_ray_commands"], config["worker_start_ray_commands"]):
        (start,) = [c for c in commands if "ray start" in c]
        assert start.startswith("ulimit -n 65536;")
