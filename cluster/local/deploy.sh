#!/usr/bin/env bash
# serve deploy a config onto the local cluster, wait until every app is RUNNING.
# usage: deploy.sh [CONFIG] [TIMEOUT_S]
set -euo pipefail
source "$(dirname "$0")/env.sh"
CONFIG=${1:-$ROOT/serve_config.yaml}
TIMEOUT=${2:-300}
serve deploy "$CONFIG" >/dev/null
python "$ROOT/cluster/local/wait_running.py" --timeout "$TIMEOUT"
