# Shared settings for the local cluster scripts; source it, don't run it.
# Every value can be overridden from the environment, which is how the test suite runs
# a second, private cluster beside one started by `make up`.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUN_DIR=${RUN_DIR:-$ROOT/.run}
VENV=${VENV:-$ROOT/.venv}
export PATH="$VENV/bin:$PATH"

RAY_PORT=${RAY_PORT:-6379}
DASHBOARD_PORT=${DASHBOARD_PORT:-8265}
METRICS_PORT=${METRICS_PORT:-8080}          # Ray's Prometheus endpoint on every node
CLIENT_PORT=${CLIENT_PORT:-10001}
AGENT_PORT=${AGENT_PORT:-52365}
AGENT_GRPC_PORT=${AGENT_GRPC_PORT:-52366}
RUNTIME_ENV_AGENT_PORT=${RUNTIME_ENV_AGENT_PORT:-52367}
SERVE_PORT=${SERVE_PORT:-8000}              # must match http_options.port of the deployed config
# Multi-node on one machine: WORKERS=N start.sh also starts N worker nodes (add_worker.sh)
# of WORKER_CPUS each, and the head then offers no CPUs, so every replica (the ingress and
# the models) lands on a worker; the Serve controller and HTTP proxy need none.
WORKERS=${WORKERS:-0}
WORKER_CPUS=${WORKER_CPUS:-1}
WORKER_RESOURCES=${WORKER_RESOURCES:-'{}'}
if ((WORKERS > 0)); then
  HEAD_CPUS=${HEAD_CPUS:-0}
else
  HEAD_CPUS=${HEAD_CPUS:-$(nproc)}
fi
HEAD_ADDRESS=${HEAD_ADDRESS:-127.0.0.1:$RAY_PORT} # where add_worker.sh joins; a remote head works too

# Ray keeps unix sockets under its temp dir, whose path must stay short (sun_path is
# 108 bytes), so it lives in /tmp with a name unique to this checkout.
RAY_TMPDIR=${RAY_TMPDIR:-/tmp/rsic-$(id -u)-$(printf '%s' "$RUN_DIR" | md5sum | cut -c1-8)}
export RAY_TMPDIR

# Ray's cluster token auth, on: the token lives in ~/.ray/auth_token (Ray's default), so
# `serve status` and `ray status` work in any shell without extra settings.
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-token}
export RAY_DASHBOARD_ADDRESS=${RAY_DASHBOARD_ADDRESS:-http://127.0.0.1:$DASHBOARD_PORT}
export RAY_USAGE_STATS_ENABLED=0

# Where the ingress finds its API keys (SHA-256 hashes only; see deployments/manage_keys.py).
# Ray replicas inherit the environment of `ray start`, so this must be set before start.sh:
# a path, not a secret, and no credential ever goes into serve_config.yaml.
export RSIC_API_KEYS_FILE=${RSIC_API_KEYS_FILE:-$RUN_DIR/api_keys.json}
