"""Render monitoring/prometheus/prometheus.yml for one Ray cluster on this host.

Run as a script by cluster/local/prometheus.sh (it needs nothing but PyYAML), imported by
the tests. The committed file stays the single source: this only fills in paths, the
port, the scrape interval, the loopback relabel and the Alertmanager's port.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "prometheus.yml"
RULES_DIR = HERE / "rules"


def loopback_regex(local_hosts: list[str]) -> str:
    """A relabel regex matching `<one of these hosts>:<port>`, capturing the port.

    Prometheus anchors relabel regexes, so targets on other hosts do not match and keep
    their advertised address.
    """
    hosts = [f"[{h}]" if ":" in h else h for h in local_hosts if h]
    return "(?:" + "|".join(re.escape(h) for h in hosts) + r"):(\d+)"


def render(
    *,
    sd_file: Path,
    rules_dir: Path = RULES_DIR,
    listen_port: int = 9090,
    scrape_interval: str = "5s",
    local_hosts: list[str] | None = None,
    alertmanager_port: int = 9093,
) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(TEMPLATE.read_text())
    config["global"]["scrape_interval"] = scrape_interval
    config["global"]["evaluation_interval"] = scrape_interval
    config["rule_files"] = [str(rules_dir.resolve() / "*.yml")]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    ray = jobs["ray"]
    ray["file_sd_configs"][0]["files"] = [str(sd_file)]
    if local_hosts:
        (loopback,) = (r for r in ray["relabel_configs"] if r.get("target_label") == "__address__")
        loopback["regex"] = loopback_regex(local_hosts)
    jobs["prometheus"]["static_configs"] = [{"targets": [f"127.0.0.1:{listen_port}"]}]
    (alertmanagers,) = config["alerting"]["alertmanagers"]
    alertmanagers["static_configs"] = [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]
    return config


def dump(config: dict[str, Any]) -> str:
    header = f"# Generated from {TEMPLATE} by {Path(__file__).name}; edit that file instead.\n"
    return header + yaml.safe_dump(config, sort_keys=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sd-file", type=Path, required=True, help="Ray's service-discovery JSON")
    parser.add_argument("--rules-dir", type=Path, default=RULES_DIR)
    parser.add_argument("--listen-port", type=int, default=9090)
    parser.add_argument("--scrape-interval", default="5s")
    parser.add_argument("--alertmanager-port", type=int, default=9093)
    parser.add_argument(
        "--local-hosts",
        default="",
        help="space-separated addresses of this host (`hostname -I`); empty: rewrite every host",
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    config = render(
        sd_file=args.sd_file,
        rules_dir=args.rules_dir,
        listen_port=args.listen_port,
        scrape_interval=args.scrape_interval,
        local_hosts=args.local_hosts.split(),
        alertmanager_port=args.alertmanager_port,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dump(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
