"""The default Alertmanager receiver: a webhook that appends each notification to a file.

Started by cluster/local/alertmanager.sh beside Alertmanager (loopback only), so alerts
reach something on a machine with no mail relay, chat or pager: every POST body
Alertmanager sends (one notification: a group of alerts, firing or resolved) becomes one
JSON line of the output file, with the time it arrived. Standard library only.

    python monitoring/alertmanager/receiver.py --port 9095 --out notifications.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# Alertmanager's webhook bodies are a few kB per alert; this bounds a bad client.
MAX_BODY_BYTES = 4 * 1024 * 1024


def make_handler(out: Path) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, text: str) -> None:
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            # Readiness probe for alertmanager.sh.
            self._reply(200, "ok\n") if self.path == "/healthz" else self._reply(404, "")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY_BYTES:
                self._reply(413 if length else 411, "body required, at most 4 MiB\n")
                return
            try:
                notification: Any = json.loads(self.rfile.read(length))
            except ValueError:
                self._reply(400, "not JSON\n")
                return
            if not isinstance(notification, dict):
                self._reply(400, "not a JSON object\n")
                return
            line = json.dumps({"received_at": time.time(), "path": self.path, **notification})
            with lock, out.open("a") as f:
                f.write(line + "\n")
            self._reply(200, "ok\n")

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"{self.log_date_time_string()} {format % args}\n")

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9095)
    parser.add_argument("--out", type=Path, required=True, help="JSON-lines file to append to")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(args.out))
    print(f"alert receiver on http://{args.host}:{args.port}, appending to {args.out}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
