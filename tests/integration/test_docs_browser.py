"""/docs and /redoc in a real browser with the network cut: headless Chromium (Debian's
package) driven by Playwright for Python, against the live test cluster.

Every request the page makes to anything but 127.0.0.1 is aborted and recorded, and the
test fails if there was any: the pages must need nothing from outside (they loaded
Swagger UI from a CDN before, and rendered blank behind a firewall). Swagger UI must list
every operation of /openapi.json, take the test cluster's admin key through its
Authorize dialog, and "Try it out" + Execute on POST /v1/embeddings and on the
iris-classifier predictor must render a 200; ReDoc must render the API's title and an
operation. A screenshot of /docs is written to $PYTEST_ARTIFACTS (else the test's tmp
dir), and its path printed.

Skips, saying why, where Chromium or the playwright package is missing (Playwright's own
browser download cannot work offline; ``apt-get install chromium`` does).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.live_cluster import MODEL, LiveCluster

CHROMIUM = os.environ.get("RSIC_CHROMIUM", "/usr/bin/chromium")
PREDICTOR = "iris-classifier"
TIMEOUT_MS = 30_000

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed (dev extra)"
)
if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
    pytest.skip(
        f"no Chromium at {CHROMIUM} (apt-get install chromium, or set RSIC_CHROMIUM)",
        allow_module_level=True,
    )


class Offline:
    """Aborts every request not to 127.0.0.1, and remembers what it aborted."""

    def __init__(self) -> None:
        self.blocked: list[str] = []

    def __call__(self, route: Any) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1" or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("internetdisconnected")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        try:
            launched = p.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
            )
        except playwright_api.Error as e:
            pytest.skip(f"Chromium at {CHROMIUM} does not start: {e}")
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[tuple[Any, Offline]]:
    offline = Offline()
    context = browser.new_context(viewport={"width": 1280, "height": 2000})
    context.route("**/*", offline)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page(), offline
    finally:
        context.close()


def artifact_dir(tmp_path: Path) -> Path:
    where = Path(os.environ.get("PYTEST_ARTIFACTS") or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    return where


def listed_operations(page: Any) -> set[tuple[str, str]]:
    found: list[list[str]] = page.eval_on_selector_all(
        ".opblock",
        """blocks => blocks.map(b => [
            b.querySelector('.opblock-summary-method').innerText.toLowerCase(),
            b.querySelector('.opblock-summary-path').getAttribute('data-path')])""",
    )
    return {(method, path) for method, path in found}


def authorize(page: Any, key: str) -> None:
    page.click("button.authorize")
    dialog = page.locator(".dialog-ux .modal-ux")
    # The first scheme is HTTPBearer (deployments/ingress/openapi.py SCHEMES).
    dialog.locator(".auth-container").first.locator("input").fill(key)
    dialog.locator(".auth-container").first.locator("button.authorize").click()
    dialog.locator("button.btn-done").first.click()


def try_it_out(page: Any, operation_id: str, tag: str) -> str:
    """Expands the operation, runs its example body and returns the rendered status."""
    block = page.locator(f'[id="operations-{tag}-{operation_id}"]')
    block.locator(".opblock-summary").first.click()
    block.locator("button.try-out__btn").click()
    block.locator("button.execute").click()
    status = block.locator(".live-responses-table .response .response-col_status").first
    status.wait_for()
    text: str = status.inner_text().strip()
    return text


def test_docs_work_offline_with_authorize_and_try_it_out(
    cluster: LiveCluster, page: tuple[Any, Offline], tmp_path: Path
) -> None:
    tab, offline = page
    document = httpx.get(f"{cluster.base_url}/openapi.json", timeout=30).json()
    operations = {
        (method, path): op for path, ops in document["paths"].items() for method, op in ops.items()
    }
    tab.goto(f"{cluster.base_url}/docs")
    tab.wait_for_selector(".opblock")
    assert listed_operations(tab) == set(operations)

    authorize(tab, cluster.keys["admin"])
    embeddings = operations[("post", "/v1/embeddings")]
    predictor = operations[("post", f"/v1/models/{PREDICTOR}/predict")]
    statuses = {
        "embeddings": try_it_out(tab, embeddings["operationId"], embeddings["tags"][0]),
        PREDICTOR: try_it_out(tab, predictor["operationId"], predictor["tags"][0]),
    }
    shot = artifact_dir(tmp_path) / "docs.png"
    tab.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot of /docs: {shot}")
    assert statuses == {"embeddings": "200", PREDICTOR: "200"}
    # The answers themselves are rendered: the embedding's model and the iris label.
    body = tab.locator(".live-responses-table .response-col_description").all_inner_texts()
    assert any(MODEL in text for text in body) and any(
        "setosa" in t or "versicolor" in t or "virginica" in t for t in body
    )
    assert offline.blocked == [], f"the page reached outside: {offline.blocked}"


def test_redoc_renders_offline(cluster: LiveCluster, page: tuple[Any, Offline]) -> None:
    tab, offline = page
    tab.goto(f"{cluster.base_url}/redoc")
    title = tab.locator(".api-info h1")
    title.wait_for()
    assert "Ray Serve inference cluster" in title.inner_text()
    tab.get_by_text("/v1/embeddings").first.wait_for(state="attached")
    assert offline.blocked == [], f"the page reached outside: {offline.blocked}"
