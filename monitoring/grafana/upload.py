"""Push the Prometheus data source and the dashboards to a running Grafana over its HTTP API.

    python -m monitoring.grafana.upload --url http://127.0.0.1:3000 \
        --prometheus-url http://127.0.0.1:9090

Credentials, first found wins: --token / GRAFANA_TOKEN (a service-account token),
--user and --password / GRAFANA_USER and GRAFANA_PASSWORD, user:password in the URL.
Safe to re-run: the data source and the folder are matched by uid and updated, and the
dashboards overwritten. The dashboards come from dashboards.py, so they are always the
current ones even if the committed JSON was not regenerated.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import niquests
from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException

from monitoring.grafana.dashboard_spec import DATASOURCE_VAR, to_json
from monitoring.grafana.dashboards import DASHBOARDS

DATASOURCE_UID = "prometheus"
DATASOURCE_NAME = "Prometheus"
FOLDER_UID = "ray-serve"
FOLDER_TITLE = "Ray Serve"


def datasource_payload(prometheus_url: str, scrape_interval: str) -> dict[str, Any]:
    return {
        "name": DATASOURCE_NAME,
        "uid": DATASOURCE_UID,
        "type": "prometheus",
        "access": "proxy",
        "url": prometheus_url,
        # Grafana sizes $__rate_interval from the scrape interval.
        "jsonData": {"timeInterval": scrape_interval},
    }


def _missing(error: GrafanaClientError) -> bool:
    return error.status_code == 404


def upsert_datasource(api: GrafanaApi, payload: dict[str, Any]) -> str:
    try:
        api.datasource.get_datasource_by_uid(payload["uid"])
    except GrafanaClientError as error:
        if not _missing(error):
            raise
        api.datasource.create_datasource(payload)
        return "created"
    api.datasource.update_datasource_by_uid(payload["uid"], payload)
    return "updated"


def ensure_folder(api: GrafanaApi, uid: str, title: str) -> str:
    try:
        api.folder.get_folder(uid)
    except GrafanaClientError as error:
        if not _missing(error):
            raise
        api.folder.create_folder(title, uid=uid)
        return "created"
    return "exists"


def with_datasource(dashboard: dict[str, Any], uid: str, name: str) -> dict[str, Any]:
    """Preselect our data source in the dashboard's data source variable.

    Otherwise Grafana picks its default data source, which on a shared Grafana may be
    another Prometheus.
    """
    dashboard = copy.deepcopy(dashboard)
    for variable in dashboard["templating"]["list"]:
        if variable["name"] == DATASOURCE_VAR:
            variable["current"] = {"selected": True, "text": name, "value": uid}
    return dashboard


def upload(
    api: GrafanaApi, *, prometheus_url: str, scrape_interval: str, folder_uid: str = FOLDER_UID
) -> list[str]:
    """Create or update everything; returns what was done, one line per object."""
    done = [
        f"data source {DATASOURCE_UID}: "
        + upsert_datasource(api, datasource_payload(prometheus_url, scrape_interval)),
        f"folder {folder_uid}: " + ensure_folder(api, folder_uid, FOLDER_TITLE),
    ]
    for dashboard in DASHBOARDS:
        body = with_datasource(to_json(dashboard), DATASOURCE_UID, DATASOURCE_NAME)
        result = api.dashboard.update_dashboard(
            {
                "dashboard": body,
                "folderUid": folder_uid,
                "overwrite": True,
                "message": "uploaded by monitoring/grafana/upload.py",
            }
        )
        status, url = result.get("status", "ok"), result.get("url", "")
        done.append(f"dashboard {dashboard.uid}: {status} {url}")
    return done


def api_base_url(url: str) -> str:
    """grafana-client appends "api" straight to the URL's path: a Grafana served under a
    sub-path needs the trailing slash (http://host/grafana/), or every call 404s."""
    parts = urlsplit(url)
    if parts.path and not parts.path.endswith("/"):
        parts = parts._replace(path=parts.path + "/")
    return urlunsplit(parts)


def credential_from(args: argparse.Namespace) -> str | tuple[str, str] | None:
    if args.token:
        return str(args.token)
    if args.user and args.password:
        return (args.user, args.password)
    return None


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=env("GRAFANA_URL", "http://127.0.0.1:3000"))
    parser.add_argument("--token", default=env("GRAFANA_TOKEN"))
    parser.add_argument("--user", default=env("GRAFANA_USER"))
    parser.add_argument("--password", default=env("GRAFANA_PASSWORD"))
    parser.add_argument(
        "--prometheus-url",
        default=env("PROMETHEUS_URL", f"http://127.0.0.1:{env('PROM_PORT', '9090')}"),
        help="as Grafana's server reaches it, not necessarily as you do",
    )
    parser.add_argument("--scrape-interval", default=env("PROM_SCRAPE_INTERVAL", "5s"))
    parser.add_argument("--folder-uid", default=FOLDER_UID)
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)

    api = GrafanaApi.from_url(
        api_base_url(args.url), credential=credential_from(args), timeout=args.timeout
    )
    try:
        done = upload(
            api,
            prometheus_url=args.prometheus_url,
            scrape_interval=args.scrape_interval,
            folder_uid=args.folder_uid,
        )
    except GrafanaException as error:
        print(f"grafana at {args.url} refused: {error}", file=sys.stderr)
        return 1
    except niquests.exceptions.ConnectionError as error:
        print(f"cannot reach grafana at {args.url}: {error}", file=sys.stderr)
        return 1
    for line in done:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
