"""The KubeRay manifests: generated from serve_config.yaml, valid for the real CRD, sized right.

The CRD schemas come from the shared folder beside the repository
(``<repo>/../shared/schemas/kuberay``); the schema tests skip when it is absent.
"""

from __future__ import annotations

import copy
import math
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from packaging.requirements import Requirement

from tests.support.fast_path import local_fast_path_env
from tests.support.kuberay_manifests import KUBERAY, MANIFESTS, load_manifest, serve_config

ROOT = Path(__file__).resolve().parents[3]
GENERATE = KUBERAY / "generate.py"
PODMONITOR = KUBERAY / "podmonitor.yaml"
SCHEMA_DIR = ROOT.parent / "shared" / "schemas" / "kuberay"
RAYSERVICE_CRD = SCHEMA_DIR / "ray.io_rayservices.yaml"
K8S_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


# --- helpers --------------------------------------------------------------------------------


def generate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GENERATE), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def pyproject() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        project: dict[str, Any] = tomllib.load(f)["project"]
    return project


def pinned_ray_version() -> str:
    for dep in pyproject()["dependencies"]:
        req = Requirement(dep)
        if req.name.lower() == "ray":
            (spec,) = req.specifier
            assert spec.operator == "=="
            return spec.version
    raise AssertionError("pyproject.toml does not pin ray")


def constraint_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def cluster_config(manifest: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = manifest["spec"]["rayClusterConfig"]
    return config


def pod_specs(manifest: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(group name, pod template) for the head and every worker group."""
    config = cluster_config(manifest)
    yield "head", config["headGroupSpec"]["template"]
    for group in config["workerGroupSpecs"]:
        yield group["groupName"], group["template"]


def containers(manifest: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for group, template in pod_specs(manifest):
        for container in template["spec"]["containers"]:
            yield f"{group}/{container['name']}", container


def cpu_quantity(value: str | int) -> float:
    text = str(value)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def replica_bounds(deployment: dict[str, Any]) -> tuple[int, int]:
    autoscaling = deployment.get("autoscaling_config")
    if autoscaling:
        return autoscaling.get("min_replicas", 1), autoscaling["max_replicas"]
    replicas = deployment.get("num_replicas", 1)
    return replicas, replicas


def model_deployment_names(app: dict[str, Any]) -> set[str]:
    return {m["name"] for m in app["args"]["models"]}


@pytest.fixture(params=sorted(MANIFESTS))
def profile(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def manifest(profile: str) -> dict[str, Any]:
    return load_manifest(profile)


# --- (a) the committed manifests are what the generator prints now ---------------------------


def test_committed_manifest_is_current(profile: str) -> None:
    result = generate("--profile", profile, "--output", "-")
    assert result.returncode == 0, result.stderr
    assert MANIFESTS[profile].read_text() == result.stdout, (
        f"{MANIFESTS[profile].relative_to(ROOT)} is stale: "
        "run .venv/bin/python cluster/kuberay/generate.py"
    )


def test_check_reports_a_stale_manifest(tmp_path: Path) -> None:
    target = tmp_path / "rayservice.yaml"
    written = generate("--profile", "cpu", "--output", str(target))
    assert written.returncode == 0, written.stderr
    current = generate("--profile", "cpu", "--output", str(target), "--check")
    assert current.returncode == 0, current.stderr

    edited = target.read_text().replace('num-cpus: "0"', 'num-cpus: "1"')
    target.write_text(edited)
    stale = generate("--profile", "cpu", "--output", str(target), "--check")
    assert stale.returncode == 1
    assert "stale" in stale.stderr
    assert target.read_text() == edited  # --check never writes


def test_generator_rejects_an_unknown_profile() -> None:
    result = generate("--profile", "tpu", "--output", "-")
    assert result.returncode != 0
    assert "invalid choice" in result.stderr


# --- (b) serveConfigV2 is serve_config.yaml plus only the documented differences -------------


def test_serve_config_differs_only_as_documented(profile: str, manifest: dict[str, Any]) -> None:
    expected = load(ROOT / "serve_config.yaml")
    expected["proxy_location"] = "EveryNode"  # one proxy per pod behind the k8s Service
    expected["http_options"]["host"] = "0.0.0.0"  # reachable over the pod network
    for app in expected["applications"]:
        # The local model repository and demo generator are not in the working_dir zip.
        app["args"].pop("predictors", None)
        app["args"].pop("multiplexed", None)
        generators = {g["name"] for g in app["args"].pop("generators", [])}
        app["deployments"] = [d for d in app["deployments"] if d["name"] not in generators]
        # The onnx/openvino exports live in the local model repository too: pods run torch.
        for model in app["args"].get("models", []):
            for key in ("backend", "quantize", "export_dir"):
                model.pop(key, None)
        if profile == "gpu":
            for deployment in app["deployments"]:
                if deployment["name"] in model_deployment_names(app):
                    deployment.setdefault("ray_actor_options", {})["num_gpus"] = 1

    actual = serve_config(manifest)
    for app in actual["applications"]:
        assert "working_dir" in app.pop("runtime_env")  # checked on its own below
    assert actual == expected


def test_runtime_env_brings_code_and_pinned_dependencies(
    profile: str, manifest: dict[str, Any]
) -> None:
    pins = constraint_pins()
    expected = []
    for dep in pyproject()["dependencies"]:
        req = Requirement(dep)
        name = req.name.lower()
        if name == "ray":
            continue  # the image's Ray must stay: pip must not replace it
        expected.append(f"{req.name}=={pins[name]}" if name in pins else str(req))

    version = pyproject()["version"]
    for app in serve_config(manifest)["applications"]:
        env = app["runtime_env"]
        assert env["working_dir"].startswith("https://")
        assert env["working_dir"].endswith(f"/v{version}.zip")
        assert env["pip"]["packages"] == expected
        assert "torch==" + pins["torch"] in env["pip"]["packages"]
        cpu_index = "https://download.pytorch.org/whl/cpu"
        assert (cpu_index in env["pip"]["pip_install_options"]) == (profile == "cpu")


def test_serve_config_is_accepted_by_ray_serve(manifest: dict[str, Any]) -> None:
    from ray.runtime_env import RuntimeEnv
    from ray.serve.schema import ServeDeploySchema

    config = serve_config(manifest)
    schema = ServeDeploySchema.model_validate(config)
    assert [app.name for app in schema.applications] == ["embeddings"]
    for app in config["applications"]:
        RuntimeEnv(**app["runtime_env"])  # raises on a malformed pip or working_dir


def test_gpu_profile_puts_every_model_on_a_gpu(profile: str, manifest: dict[str, Any]) -> None:
    for app in serve_config(manifest)["applications"]:
        models = model_deployment_names(app)
        assert models
        for deployment in app["deployments"]:
            gpus = deployment.get("ray_actor_options", {}).get("num_gpus", 0)
            is_model = deployment["name"] in models
            assert gpus == (1 if profile == "gpu" and is_model else 0), deployment["name"]

    groups = {g["groupName"]: g for g in cluster_config(manifest)["workerGroupSpecs"]}
    assert ("gpu" in groups) == (profile == "gpu")
    if profile == "gpu":
        (container,) = groups["gpu"]["template"]["spec"]["containers"]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert container["image"].endswith("-gpu")


# --- (c) the manifests validate against the real KubeRay CRD ---------------------------------


def structural(schema: dict[str, Any]) -> dict[str, Any]:
    """A CRD's OpenAPI v3 schema as plain JSON Schema that rejects unknown fields.

    The API server prunes fields a structural schema does not declare, so a misspelt key
    would vanish without an error; here it fails instead. OpenAPI extensions become
    their JSON Schema meaning: int-or-string is anyOf integer/string, nullable adds null.
    CEL rules (x-kubernetes-validations) need an API server and are not checked.
    """
    out = {k: v for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    if schema.get("x-kubernetes-int-or-string") and "anyOf" not in schema:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("nullable") and "type" in schema:
        out["type"] = [schema["type"], "null"]
    if "properties" in schema:
        out["properties"] = {k: structural(v) for k, v in schema["properties"].items()}
        if "additionalProperties" not in schema and not schema.get(
            "x-kubernetes-preserve-unknown-fields"
        ):
            out["additionalProperties"] = False
    if isinstance(schema.get("additionalProperties"), dict):
        out["additionalProperties"] = structural(schema["additionalProperties"])
    if isinstance(schema.get("items"), dict):
        out["items"] = structural(schema["items"])
    for keyword in ("anyOf", "allOf", "oneOf"):
        if keyword in schema:
            out[keyword] = [structural(s) for s in schema[keyword]]
    return out


@pytest.fixture(scope="module")
def rayservice_validator() -> jsonschema.Draft7Validator:
    if not RAYSERVICE_CRD.is_file():
        pytest.skip(f"KubeRay CRD schemas not found at {SCHEMA_DIR} (shared/ is absent)")
    crd = load(RAYSERVICE_CRD)
    (version,) = [v for v in crd["spec"]["versions"] if v.get("storage")]
    schema = structural(version["schema"]["openAPIV3Schema"])
    # The CRD leaves these to the API server; pin them to what it would accept.
    schema["properties"]["apiVersion"] = {"const": f"{crd['spec']['group']}/{version['name']}"}
    schema["properties"]["kind"] = {"const": crd["spec"]["names"]["kind"]}
    schema["properties"]["metadata"] = {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "maxLength": 63, "pattern": K8S_NAME},
            "namespace": {"type": "string", "pattern": K8S_NAME},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    schema["properties"].pop("status")  # written by the operator, never by us
    schema["required"] = ["apiVersion", "kind", "metadata", "spec"]
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def errors(validator: jsonschema.Draft7Validator, document: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(document)
    ]


def test_manifest_validates_against_the_crd(
    rayservice_validator: jsonschema.Draft7Validator, manifest: dict[str, Any]
) -> None:
    assert errors(rayservice_validator, manifest) == []


@pytest.mark.parametrize(
    ("path", "key", "value", "expected"),
    [
        # A misspelt field the API server would silently prune.
        (["spec", "rayClusterConfig", "headGroupSpec"], "rayStartParam", {}, "rayStartParam"),
        (["spec"], "serveConfig", "x", "serveConfig"),
        (["spec", "rayClusterConfig", "authOptions"], "mode", "tokens", "tokens"),
        # rayStartParams is a map of strings: an unquoted 0 is rejected.
        (["spec", "rayClusterConfig", "headGroupSpec", "rayStartParams"], "num-cpus", 0, "0"),
        (["metadata"], "name", "Not_A_Name", "Not_A_Name"),
        ([], "kind", "RayCluster", "RayService"),
    ],
    ids=["typo-nested", "typo-spec", "bad-enum", "unquoted-param", "bad-name", "wrong-kind"],
)
def test_crd_check_rejects_bad_fields(
    rayservice_validator: jsonschema.Draft7Validator,
    path: list[str],
    key: str,
    value: Any,
    expected: str,
) -> None:
    document = copy.deepcopy(load_manifest("cpu"))
    node = document
    for part in path:
        node = node[part]
    node[key] = value
    found = errors(rayservice_validator, document)
    assert found, f"{key}={value!r} was accepted"
    assert any(expected in e for e in found), found


@pytest.mark.parametrize("cpu", [2, "2", "1500m"])
def test_crd_check_accepts_int_or_string_quantities(
    rayservice_validator: jsonschema.Draft7Validator, cpu: int | str
) -> None:
    document = copy.deepcopy(load_manifest("cpu"))
    (container,) = cluster_config(document)["headGroupSpec"]["template"]["spec"]["containers"]
    container["resources"]["limits"]["cpu"] = cpu
    container["resources"]["requests"]["cpu"] = cpu
    assert errors(rayservice_validator, document) == []


# --- (d) head, resources, image pins, capacity, auth, metrics --------------------------------


def test_head_runs_no_replicas(manifest: dict[str, Any]) -> None:
    assert cluster_config(manifest)["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"


def test_every_container_requests_what_it_limits(manifest: dict[str, Any]) -> None:
    found = dict(containers(manifest))
    found["autoscaler"] = cluster_config(manifest)["autoscalerOptions"]
    for name, container in found.items():
        resources = container["resources"]
        assert resources["requests"] == resources["limits"], name
        assert {"cpu", "memory"} <= resources["limits"].keys(), name


def test_images_match_the_pinned_ray_version(profile: str, manifest: dict[str, Any]) -> None:
    version = pinned_ray_version()
    assert cluster_config(manifest)["rayVersion"] == version
    for name, container in containers(manifest):
        gpu = "nvidia.com/gpu" in container["resources"]["limits"]
        suffix = "-gpu" if gpu else ""
        assert container["image"] == f"rayproject/ray:{version}-py311{suffix}", name


def test_worker_groups_hold_every_deployment_at_max_replicas(manifest: dict[str, Any]) -> None:
    cpu_need = gpu_need = 0.0
    for app in serve_config(manifest)["applications"]:
        for deployment in app["deployments"]:
            _, high = replica_bounds(deployment)
            options = deployment.get("ray_actor_options", {})
            if options.get("num_gpus", 0):
                gpu_need += options["num_gpus"] * high
            else:
                cpu_need += options.get("num_cpus", 1) * high

    cpu_room = gpu_room = 0.0
    for group in cluster_config(manifest)["workerGroupSpecs"]:
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        (container,) = group["template"]["spec"]["containers"]
        limits = container["resources"]["limits"]
        if "nvidia.com/gpu" in limits:
            gpu_room += group["maxReplicas"] * int(limits["nvidia.com/gpu"])
        else:
            cpu_room += group["maxReplicas"] * cpu_quantity(limits["cpu"])
    assert cpu_need <= cpu_room
    assert gpu_need <= gpu_room
    if gpu_need:
        assert gpu_room == math.ceil(gpu_need), "GPU pods beyond any replica's need"


def test_token_auth_comes_from_a_secret(manifest: dict[str, Any]) -> None:
    auth = cluster_config(manifest)["authOptions"]
    assert auth["mode"] == "token"
    assert auth["secretName"]
    # The operator injects RAY_AUTH_TOKEN from that Secret; a literal token in the
    # manifest would be committed to git.
    for name, container in containers(manifest):
        for env in container.get("env", []):
            assert "TOKEN" not in env["name"] or "valueFrom" in env, name


def test_gcs_fault_tolerance_uses_an_external_redis_with_a_secret(
    manifest: dict[str, Any],
) -> None:
    """GCS FT is on, as it is for `make up` (cluster/local/env.sh GCS_FT=redis): the GCS
    state lives in a Redis outside the cluster, and its password comes from a Secret."""
    options = cluster_config(manifest)["gcsFaultToleranceOptions"]
    host, _, port = options["redisAddress"].rpartition(":")
    assert host and port.isdigit()
    assert host not in ("127.0.0.1", "localhost"), "a Redis on the head pod dies with it"
    ref = options["redisPassword"]["valueFrom"]["secretKeyRef"]
    assert ref["name"] and ref["key"]
    assert "value" not in options["redisPassword"], "a literal password would be committed"
    # KubeRay wires the head's Redis flags itself; by hand they would conflict.
    for name, container in containers(manifest):
        for env in container.get("env", []):
            assert not env["name"].startswith("RAY_REDIS"), name


def test_pods_outlive_the_longest_graceful_shutdown(manifest: dict[str, Any]) -> None:
    longest = max(
        d.get("graceful_shutdown_timeout_s", 20)
        for app in serve_config(manifest)["applications"]
        for d in app["deployments"]
    )
    for group in cluster_config(manifest)["workerGroupSpecs"]:
        assert group["template"]["spec"]["terminationGracePeriodSeconds"] > longest


def test_nodes_outlive_serve_downscaling(manifest: dict[str, Any]) -> None:
    slowest = max(
        d["autoscaling_config"].get("downscale_delay_s", 600)
        for app in serve_config(manifest)["applications"]
        for d in app["deployments"]
        if "autoscaling_config" in d
    )
    assert cluster_config(manifest)["autoscalerOptions"]["idleTimeoutSeconds"] > slowest


def test_every_pod_exposes_metrics_and_serve_ports(manifest: dict[str, Any]) -> None:
    config = cluster_config(manifest)
    groups = [config["headGroupSpec"], *config["workerGroupSpecs"]]
    http_port = serve_config(manifest)["http_options"]["port"]
    for group in groups:
        metrics_port = int(group["rayStartParams"]["metrics-export-port"])
        (container,) = group["template"]["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["metrics"] == metrics_port
        assert ports["serve"] == http_port


# --- PodMonitor -------------------------------------------------------------------------------


def test_podmonitor_scrapes_every_ray_pod(manifest: dict[str, Any]) -> None:
    monitor = load(PODMONITOR)
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["kind"] == "PodMonitor"
    assert "namespace" not in monitor["metadata"]  # lands in the RayService's namespace
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector
    for group, template in pod_specs(manifest):
        labels = template["metadata"]["labels"]
        assert selector.items() <= labels.items(), f"{group} pods are not scraped"

    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["path"] == "/metrics"
    for _, container in containers(manifest):
        assert endpoint["port"] in {p["name"] for p in container["ports"]}
    # Rules and alerts under monitoring/prometheus select job="ray".
    job = [r for r in endpoint["relabelings"] if r.get("targetLabel") == "job"]
    assert job == [{"targetLabel": "job", "replacement": "ray"}]


def test_every_ray_container_gets_the_api_keys(manifest: dict[str, Any]) -> None:
    """Auth is on by default: without RSIC_API_KEYS_FILE the ingress refuses to start,
    and Serve may place an ingress replica in any group."""
    volumes = {
        group: {v["name"]: v for v in template["spec"].get("volumes", [])}
        for group, template in pod_specs(manifest)
    }
    for where, container in containers(manifest):
        group = where.split("/")[0]
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        mounts = {m["name"]: m for m in container.get("volumeMounts", [])}
        assert mounts["api-keys"]["readOnly"] is True, where
        assert env["RSIC_API_KEYS_FILE"].startswith(mounts["api-keys"]["mountPath"] + "/")
        assert volumes[group]["api-keys"]["secret"]["secretName"] == "rsic-api-keys"
    # Only the path travels in the pod spec; no key material is in the Serve config.
    assert "rsk_" not in repr(serve_config(manifest))


def test_every_ray_container_runs_the_local_fast_path(manifest: dict[str, Any]) -> None:
    """Every Ray process reads Serve's fast-path switches at import, so a pod without them
    would serve on stock Serve's slower path than `make up` does."""
    expected = local_fast_path_env()
    for where, container in containers(manifest):
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        assert {name: env.get(name) for name in expected} == expected, where
