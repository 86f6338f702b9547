"""The interactive docs pages (/docs: Swagger UI, /redoc: ReDoc), served with no CDN.

FastAPI's own pages load Swagger UI's and ReDoc's script and stylesheet from a public CDN,
so behind a firewall (the normal place for an inference cluster) they render blank. Here
the same pages (FastAPI's documented ``get_swagger_ui_html`` / ``get_redoc_html``) point at
a StaticFiles mount of the assets that the ``fastapi-offline`` package ships as package
data (pinned in requirements.lock; Swagger UI 5, ReDoc 2), not at copies kept by hand.

Every URL in the pages carries the request's ``root_path``, so an app deployed under a
route prefix (``/tight``) loads its own document and assets. Who may fetch the assets is
``security.access_control``'s call (``DOCS_ASSET_PREFIX``): public exactly when /docs is.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from deployments.security.access_control import DOCS_ASSET_PREFIX

ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSET_MOUNT = DOCS_ASSET_PREFIX.rstrip("/")
DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
# ReDoc's bundle shows its maker's logo from cdn.redoc.ly; the browser must not even try
# (an offline page would wait on it, and a docs page has no business calling out).
CSP = {"Content-Security-Policy": "img-src 'self' data:"}


def _root(request: Request) -> str:
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")


def _asset(root: str, name: str) -> str:
    return f"{root}{ASSET_MOUNT}/{name}"


def _offline(page: HTMLResponse) -> HTMLResponse:
    page.headers.update(CSP)
    return page


def install(app: FastAPI) -> None:
    """/docs, its OAuth2 redirect, /redoc and the assets, on ``app`` (built with
    ``docs_url=None, redoc_url=None``)."""
    assert app.docs_url is None and app.redoc_url is None, "FastAPI's CDN pages are on"
    openapi_url = app.openapi_url or "/openapi.json"
    app.mount(ASSET_MOUNT, StaticFiles(directory=ASSETS), name="docs-assets")

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = _root(request)
        return _offline(
            get_swagger_ui_html(
                openapi_url=root + openapi_url,
                title=f"{app.title} - Swagger UI",
                swagger_js_url=_asset(root, "swagger-ui-bundle.js"),
                swagger_css_url=_asset(root, "swagger-ui.css"),
                swagger_favicon_url=_asset(root, "favicon.png"),
                oauth2_redirect_url=root + OAUTH2_REDIRECT_URL,
                swagger_ui_parameters=app.swagger_ui_parameters,
            )
        )

    async def oauth2_redirect(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        root = _root(request)
        return _offline(
            get_redoc_html(
                openapi_url=root + openapi_url,
                title=f"{app.title} - ReDoc",
                redoc_js_url=_asset(root, "redoc.standalone.js"),
                redoc_favicon_url=_asset(root, "favicon.png"),
                with_google_fonts=False,  # fonts.googleapis.com: another CDN
            )
        )

    for path, page in (
        (DOCS_URL, swagger_ui),
        (OAUTH2_REDIRECT_URL, oauth2_redirect),
        (REDOC_URL, redoc),
    ):
        app.add_api_route(path, page, methods=["GET"], include_in_schema=False)
