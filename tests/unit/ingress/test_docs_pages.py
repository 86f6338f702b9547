"""/docs and /redoc load nothing from outside the ingress, under any route prefix, and
their assets are public exactly when the pages are. The real FastAPI app without a Ray
cluster (no model is called); tests/integration/test_docs_browser.py renders them in a
real browser with the network cut."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

from deployments.config import AppArgs
from deployments.ingress.deployment import create_app
from deployments.ingress.model_client import ModelClient
from deployments.ingress.routers import completions, predict
from deployments.model_manifest import ModelManifest, ModelSpec
from deployments.security.access_control import AccessControl
from deployments.security.settings import Settings
from tests.support.credentials import issue_keys

PAGES = ("/docs", "/redoc")
# src="..." / href="..." / url: '...' (Swagger UI's openapi URL and oauth2 redirect).
URL = re.compile(r"""(?:src|href)="([^"]+)"|url: '([^']+)'|oauth2RedirectUrl: [^']*'([^']+)'""")


def api(tmp_path: Path, root_path: str = "", **auth: Any) -> TestClient:
    args = AppArgs.model_validate({"models": [{"name": "m", "source": "/unused"}], "auth": auth})
    keys = tmp_path / "keys.json"
    if not keys.exists():
        issue_keys(keys, {"all": ["models:*"]})
    access = AccessControl.build(args, Settings(api_keys_file=keys))
    app = create_app(ModelClient(args, {}, access))
    return TestClient(app, root_path=root_path, raise_server_exceptions=False)


def urls_in(html: str) -> list[str]:
    return [next(g for g in m.groups() if g) for m in URL.finditer(html)]


@pytest.mark.parametrize("root_path", ["", "/tight"])
@pytest.mark.parametrize("page", PAGES)
def test_pages_load_only_their_own_assets(tmp_path: Path, page: str, root_path: str) -> None:
    c = api(tmp_path, root_path, public_docs=True)
    response = c.get(page)
    assert response.status_code == 200, response.text
    urls = urls_in(response.text)
    assert urls, response.text
    for url in urls:
        assert url.startswith(f"{root_path}/"), f"{page} loads {url} from elsewhere"
        if url.endswith((".js", ".css", ".png", ".json")):
            # The app sees the prefix in root_path, as behind Serve's proxy.
            asset = c.get(url)
            assert asset.status_code == 200, url
            assert len(asset.content) > 1000, url
    assert "cdn" not in response.text.lower()
    # ReDoc's bundle would fetch its maker's logo from a CDN: the page's CSP forbids it.
    assert response.headers["content-security-policy"] == "img-src 'self' data:"
    assert "fonts.googleapis" not in response.text


def test_swagger_ui_keeps_authorization_and_its_oauth2_redirect(tmp_path: Path) -> None:
    c = api(tmp_path, public_docs=True)
    html = c.get("/docs").text
    assert '"persistAuthorization": true' in html
    assert "oauth2RedirectUrl" in html
    assert "oauth2" in c.get("/docs/oauth2-redirect").text


def test_assets_need_credentials_unless_the_docs_are_public(tmp_path: Path) -> None:
    asset = "/docs/assets/swagger-ui-bundle.js"
    private = api(tmp_path)
    assert private.get(asset).status_code == 401
    assert private.get("/docs").status_code == 401
    assert api(tmp_path, public_docs=True).get(asset).status_code == 200
    assert api(tmp_path, enabled=False).get(asset).status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/docs/assets/../v1/models", "/docs/assets/%2e%2e/v1/models", "/docs/assetsx", "/docs/x"],
)
def test_nothing_else_rides_on_the_asset_prefix(tmp_path: Path, path: str) -> None:
    c = api(tmp_path, public_docs=True)
    response = c.get(path)
    assert response.status_code in (401, 404), (path, response.status_code)
    assert response.status_code != 200


def test_every_request_body_carries_an_example_its_schema_accepts(tmp_path: Path) -> None:
    """Swagger UI's "Try it out" starts from the example: embeddings, completions and a
    predictor typed from a manifest each get one, and it validates against the schema."""
    manifest = ModelManifest.model_validate(
        {
            "name": "demo",
            "format": "torchscript",
            "artifact": "model.pt",
            "inputs": [
                {"name": "x", "dtype": "float32", "shape": [-1, 3], "min": 1, "max": 2},
                {"name": "k", "dtype": "int64", "shape": [-1], "min": 1},
            ],
            "outputs": [{"name": "y", "dtype": "float32", "shape": [-1]}],
        }
    )
    spec = ModelSpec(name="demo", directory="/nowhere", manifest=manifest)
    args = AppArgs.model_validate({"models": [{"name": "m", "source": "/unused"}]})
    access = AccessControl.build(args, Settings(api_keys_file=tmp_path / "none.json"))
    routers = [*predict.routers([spec], 8), completions.router]
    document = create_app(ModelClient(args, {}, access), routers).openapi()
    bodies = {
        (path, method): op["requestBody"]["content"]["application/json"]["schema"]
        for path, ops in document["paths"].items()
        for method, op in ops.items()
        if "requestBody" in op
    }
    assert {p for p, _ in bodies} >= {
        "/v1/embeddings",
        "/v1/completions",
        "/v1/models/demo/predict",
    }
    for where, schema in bodies.items():
        resolved = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        examples = resolved.get("examples")
        assert examples, f"{where} has no example"
        validator = Draft202012Validator({**document, **schema})
        for example in examples:
            errors = [e.message for e in validator.iter_errors(example)]
            assert not errors, (where, example, errors)
