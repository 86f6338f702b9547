"""Issue, list and revoke API keys in the keys file the ingress reads.

    python -m deployments.security.manage_keys add NAME [--scope SCOPE ...]  # prints it once
    python -m deployments.security.manage_keys list
    python -m deployments.security.manage_keys revoke NAME
    python -m deployments.security.manage_keys ensure NAME [--scope ...]  # add unless any

The file defaults to $RSIC_API_KEYS_FILE (cluster/local/env.sh sets it to .run/api_keys.json).
Running replicas notice the change on their next request: no restart, no redeploy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from deployments.security import api_keys
from deployments.security.principal import ADMIN_SCOPE, ALL_MODELS_SCOPE
from deployments.security.settings import ENV_PREFIX, Settings


def _keys_file(given: Path | None) -> Path:
    path = given or Settings().api_keys_file
    if path is None:
        sys.exit(f"no keys file: pass --file or set {ENV_PREFIX}API_KEYS_FILE")
    return path


def _issue(path: Path, name: str, scopes: list[str]) -> None:
    key = api_keys.add_key(path, name, scopes)
    # The key on stdout alone, so `KEY=$(python -m deployments.security.manage_keys add ...)` works;
    # it is shown this once and stored nowhere but as its hash.
    print(key)
    print(
        f"issued API key {name!r} with scopes {scopes} (only its SHA-256 is kept in {path}).\n"
        f"It is not shown again; use it as:  export API_KEY={key}",
        file=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--file", type=Path, help=f"keys file (default: ${ENV_PREFIX}API_KEYS_FILE)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for command in ("add", "ensure"):
        sub = commands.add_parser(command)
        sub.add_argument("name")
        sub.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            help=f"repeatable; default: {ALL_MODELS_SCOPE} and {ADMIN_SCOPE}",
        )
    commands.add_parser("revoke").add_argument("name")
    commands.add_parser("list")
    args = parser.parse_args(argv)
    path = _keys_file(args.file)

    if args.command in ("add", "ensure"):
        scopes = args.scopes or [ALL_MODELS_SCOPE, ADMIN_SCOPE]
        if args.command == "ensure" and api_keys.load(path).keys:
            print(f"API keys: {path} (manage with python -m deployments.security.manage_keys)")
            return 0
        try:
            _issue(path, args.name, scopes)
        except ValueError as exc:
            sys.exit(str(exc))
    elif args.command == "revoke":
        if not api_keys.revoke_key(path, args.name):
            sys.exit(f"no key named {args.name!r} in {path}")
        print(f"revoked {args.name!r}; replicas refuse it from their next request on")
    else:
        for key in api_keys.load(path).keys:
            created = key.created.isoformat() if key.created else "-"
            print(f"{key.name}\t{' '.join(key.scopes)}\t{created}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
