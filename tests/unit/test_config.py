"""The typed app args accept serve_config.yaml and reject what would break at run time."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from deployments.config import AppArgs
from deployments.contracts import BatchConfig
from tests.support.kuberay_manifests import load_manifest, serve_config
from tests.support.live_cluster import ROOT, base_config


def test_serve_config_args_validate() -> None:
    (app,) = base_config()["applications"]
    args = AppArgs.model_validate(app["args"])
    assert [m.name for m in args.models] == ["all-MiniLM-L6-v2"]
    assert app["import_path"] == "deployments.app:build_app"


def test_every_deployment_in_config_is_built() -> None:
    (app,) = base_config()["applications"]
    args = AppArgs.model_validate(app["args"])
    configured = {d["name"] for d in app["deployments"]}
    # Model-repository deployments are sized by their manifests, not listed here.
    listed = {"Ingress", *(m.name for m in args.models), *(g.name for g in args.generators)}
    assert configured == listed


def test_user_config_is_a_valid_batch_config() -> None:
    (app,) = base_config()["applications"]
    model = next(d for d in app["deployments"] if d["name"] != "Ingress")
    BatchConfig.model_validate(model["user_config"])


@pytest.mark.parametrize("profile", ["cpu", "gpu"])
def test_model_admits_every_call_the_ingress_may_hold_open(profile: str) -> None:
    """Each ingress replica holds up to max_calls_in_flight calls open per embedding
    model (deployments/ingress/call_coalescer.py): the model must admit them all at the ingress's
    max_replicas, or the surplus is shed with 503; and its autoscaling target, counted in
    calls, must sit below what one busy ingress holds, or it never scales out."""
    config = base_config() if profile == "cpu" else serve_config(load_manifest("gpu"))
    (app,) = config["applications"]
    args = AppArgs.model_validate(app["args"])
    deployments = {d["name"]: d for d in app["deployments"]}
    ingress = deployments["Ingress"]
    ingress_replicas = ingress.get("autoscaling_config", {}).get(
        "max_replicas", ingress.get("num_replicas", 1)
    )
    for model in args.models:
        assert model.max_calls_in_flight is not None
        deployment = deployments[model.name]
        held = model.max_calls_in_flight * ingress_replicas
        assert deployment["max_ongoing_requests"] >= held, model.name
        target = deployment["autoscaling_config"]["target_ongoing_requests"]
        assert target < model.max_calls_in_flight, model.name


def test_duplicate_model_names_rejected() -> None:
    model = {"name": "m", "source": "/x"}
    with pytest.raises(ValidationError, match="unique"):
        AppArgs.model_validate({"models": [model, model]})


@pytest.mark.parametrize("name", ["", "has space", "a/b", "-lead"])
def test_bad_model_names_rejected(name: str) -> None:
    with pytest.raises(ValidationError):
        AppArgs.model_validate({"models": [{"name": name, "source": "/x"}]})


def test_unknown_keys_rejected() -> None:
    with pytest.raises(ValidationError, match="extra"):
        BatchConfig.model_validate({"max_batch_size": 8, "max_batch": 3})


def test_serve_config_is_secure_by_default() -> None:
    config = base_config()
    (app,) = config["applications"]
    args = AppArgs.model_validate(app["args"])
    assert args.auth.enabled
    # Our JSON 504 (with the model work cancelled) must come before the proxy's timeout.
    assert args.limits.max_deadline_s < config["http_options"]["request_timeout_s"]
    # No credential of any kind in the file `serve status` shows to every operator.
    text = (ROOT / "serve_config.yaml").read_text().lower()
    for marker in ("rsk_", "sha256", "secret:", "password", "token:", "-----begin"):
        assert marker not in text, marker


def test_auth_is_on_unless_switched_off_explicitly() -> None:
    minimal = AppArgs.model_validate({"models": [{"name": "m", "source": "/x"}]})
    assert minimal.auth.enabled and not minimal.auth.public_docs
    assert minimal.rate_limits.default is not None
    with pytest.raises(ValidationError):
        AppArgs.model_validate({"models": [{"name": "m", "source": "/x"}], "auth": {"on": False}})
