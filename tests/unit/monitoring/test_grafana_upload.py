"""The Grafana uploader, run against a fake Grafana HTTP API.

The API is faked because no Grafana server can run here (no package for it and no Docker
engine). The fake serves only what grafana-client calls for the uploader, with Grafana's
paths, methods, status codes and response shapes: GET/PUT /api/datasources/uid/{uid},
POST /api/datasources, GET /api/folders/{uid}, POST /api/folders and POST
/api/dashboards/db. It checks credentials and folder references like Grafana and records
every request, so the tests assert what a real Grafana would receive. What it does not
fake is Grafana's own validation of dashboard JSON.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from monitoring.grafana import upload
from monitoring.grafana.dashboard_spec import DATASOURCE_VAR
from monitoring.grafana.dashboards import INFERENCE, output_path


@dataclass
class Request:
    method: str
    path: str
    authorization: str
    body: Any


@dataclass
class FakeGrafana:
    authorization: str
    prefix: str = ""
    requests: list[Request] = field(default_factory=list)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    next_id: int = 1

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def handle(self, method: str, path: str, auth: str, body: Any) -> tuple[int, dict[str, Any]]:
        self.requests.append(Request(method, path, auth, body))
        if auth != self.authorization:
            return 401, {"message": "Unauthorized"}
        if not path.startswith(self.prefix + "/api/"):
            return 404, {"message": "Not found"}
        parts = path.removeprefix(self.prefix + "/api/").split("/")
        match method, parts:
            case "GET", ["datasources", "uid", uid]:
                if uid not in self.datasources:
                    return 404, {"message": "Data source not found"}
                return 200, self.datasources[uid]
            case "POST", ["datasources"]:
                if any(ds["name"] == body["name"] for ds in self.datasources.values()):
                    return 409, {"message": "data source with the same name already exists"}
                ds = {**body, "id": self._id()}
                self.datasources[body["uid"]] = ds
                return 200, {"datasource": ds, "id": ds["id"], "message": "Datasource added"}
            case "PUT", ["datasources", "uid", uid]:
                if uid not in self.datasources:
                    return 404, {"message": "Data source not found"}
                ds = {**body, "id": self.datasources[uid]["id"]}
                self.datasources[uid] = ds
                return 200, {"datasource": ds, "id": ds["id"], "message": "Datasource updated"}
            case "GET", ["folders", uid]:
                if uid not in self.folders:
                    return 404, {"message": "folder not found"}
                return 200, self.folders[uid]
            case "POST", ["folders"]:
                if body.get("uid") in self.folders:
                    return 409, {"message": "a folder with the same uid already exists"}
                folder = {**body, "id": self._id(), "url": f"/dashboards/f/{body['uid']}/"}
                self.folders[body["uid"]] = folder
                return 200, folder
            case "POST", ["dashboards", "db"]:
                return self._save_dashboard(body)
        return 404, {"message": "Not found"}

    def _save_dashboard(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        dashboard = body["dashboard"]
        if body.get("folderUid") and body["folderUid"] not in self.folders:
            return 400, {"message": "folder not found"}
        uid = dashboard["uid"]
        old = self.dashboards.get(uid)
        if old is not None and not body.get("overwrite"):
            return 412, {"status": "name-exists", "message": "A dashboard with the same uid exists"}
        version = old["version"] + 1 if old else 1
        self.dashboards[uid] = {
            "dashboard": dashboard,
            "version": version,
            "folderUid": body["folderUid"],
        }
        slug = dashboard["title"].lower().replace(" ", "-")
        return 200, {
            "id": self._id(),
            "uid": uid,
            "url": f"{self.prefix}/d/{uid}/{slug}",
            "status": "success",
            "version": version,
            "slug": slug,
        }

    def calls(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.requests]

    def last(self, method: str, path: str) -> Any:
        return [r.body for r in self.requests if (r.method, r.path) == (method, path)][-1]


def serve(fake: FakeGrafana) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def _dispatch(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            path = self.path.split("?", 1)[0]
            status, payload = fake.handle(
                self.command, path, self.headers.get("Authorization", ""), body
            )
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _dispatch

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


TOKEN = "glsa_test_token"


@pytest.fixture
def fake() -> FakeGrafana:
    return FakeGrafana(authorization=f"Bearer {TOKEN}")


@pytest.fixture
def url(fake: FakeGrafana) -> Iterator[str]:
    yield from serve(fake)


@pytest.fixture(autouse=True)
def no_grafana_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GRAFANA_URL", "GRAFANA_TOKEN", "GRAFANA_USER", "GRAFANA_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


def run(url: str, *args: str) -> int:
    return upload.main(["--url", url, "--prometheus-url", "http://prom.internal:9090", *args])


def without_datasource_choice(dashboard: dict[str, Any]) -> dict[str, Any]:
    for variable in dashboard["templating"]["list"]:
        if variable["name"] == DATASOURCE_VAR:
            variable["current"] = {}
    return dashboard


def test_first_upload_creates_data_source_folder_and_dashboard(fake: FakeGrafana, url: str) -> None:
    assert run(url, "--token", TOKEN, "--scrape-interval", "15s") == 0

    assert fake.calls() == [
        ("GET", "/api/datasources/uid/prometheus"),
        ("POST", "/api/datasources"),
        ("GET", "/api/folders/ray-serve"),
        ("POST", "/api/folders"),
        ("POST", "/api/dashboards/db"),
    ]
    assert {r.authorization for r in fake.requests} == {f"Bearer {TOKEN}"}
    assert fake.last("POST", "/api/datasources") == {
        "name": "Prometheus",
        "uid": "prometheus",
        "type": "prometheus",
        "access": "proxy",
        "url": "http://prom.internal:9090",
        "jsonData": {"timeInterval": "15s"},
    }
    assert fake.last("POST", "/api/folders") == {"title": "Ray Serve", "uid": "ray-serve"}

    saved = fake.last("POST", "/api/dashboards/db")
    assert saved["folderUid"] == "ray-serve"
    assert saved["overwrite"] is True
    dashboard = saved["dashboard"]
    assert "id" not in dashboard  # matched by uid, never by a Grafana-internal id
    (choice,) = (v for v in dashboard["templating"]["list"] if v["name"] == DATASOURCE_VAR)
    assert choice["current"]["value"] == "prometheus"
    # Apart from that choice, exactly the committed, generated JSON.
    committed = json.loads(output_path(INFERENCE).read_text())
    assert without_datasource_choice(dashboard) == without_datasource_choice(committed)


def test_second_upload_updates_in_place(fake: FakeGrafana, url: str) -> None:
    assert run(url, "--token", TOKEN) == 0
    first = len(fake.requests)
    assert run(url, "--token", TOKEN, "--prometheus-url", "http://other:9090") == 0

    assert fake.calls()[first:] == [
        ("GET", "/api/datasources/uid/prometheus"),
        ("PUT", "/api/datasources/uid/prometheus"),
        ("GET", "/api/folders/ray-serve"),
        ("POST", "/api/dashboards/db"),
    ]
    assert list(fake.datasources) == ["prometheus"]
    assert fake.datasources["prometheus"]["url"] == "http://other:9090"
    assert list(fake.folders) == ["ray-serve"]
    assert fake.dashboards[INFERENCE.uid]["version"] == 2


def test_basic_auth_and_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = "Basic " + base64.b64encode(b"admin:s3cret").decode()
    fake = FakeGrafana(authorization=expected)
    for url in serve(fake):
        monkeypatch.setenv("GRAFANA_URL", url)
        monkeypatch.setenv("GRAFANA_USER", "admin")
        monkeypatch.setenv("GRAFANA_PASSWORD", "s3cret")
        assert upload.main([]) == 0
    assert {r.authorization for r in fake.requests} == {expected}
    assert INFERENCE.uid in fake.dashboards


def test_grafana_under_a_sub_path() -> None:
    fake = FakeGrafana(authorization=f"Bearer {TOKEN}", prefix="/grafana")
    for url in serve(fake):
        assert run(url + "/grafana", "--token", TOKEN) == 0
    assert all(path.startswith("/grafana/api/") for _, path in fake.calls())
    assert INFERENCE.uid in fake.dashboards


def test_wrong_token_fails_cleanly(
    fake: FakeGrafana, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(url, "--token", "wrong") == 1
    assert "refused" in capsys.readouterr().err
    assert fake.calls() == [("GET", "/api/datasources/uid/prometheus")]
    assert not fake.dashboards


def test_unreachable_grafana_fails_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once the socket is closed
    assert run(f"http://127.0.0.1:{port}", "--token", TOKEN, "--timeout", "2") == 1
    assert "cannot reach grafana" in capsys.readouterr().err
