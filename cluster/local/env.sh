# Shared settings for the local cluster scripts; source it, don't run it.
# Every value can be overridden from the environment, which is how the test suite runs
# a second, private cluster beside one started by `make up`.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUN_DIR=${RUN_DIR:-$ROOT/.run}
export RUN_DIR # marks the cluster's processes (benchmarks/cpu_cost.py finds them by it)
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

# Where the ingress finds its API keys (SHA-256 hashes only; see deployments/security/manage_keys.py).
# Ray replicas inherit the environment of `ray start`, so this must be set before start.sh:
# a path, not a secret, and no credential ever goes into serve_config.yaml.
export RSIC_API_KEYS_FILE=${RSIC_API_KEYS_FILE:-$RUN_DIR/api_keys.json}

# GCS fault tolerance (Ray's name): the head's GCS keeps the cluster state (nodes, actors,
# Serve's checkpoint) in an external Redis, so a GCS that dies is restarted with its state
# (start.sh supervises it) and a restarted head finds its applications again.
#   redis  a loopback Redis per cluster (cluster/local/redis.sh), on REDIS_PORT
#   off    state in the GCS's memory: a dead GCS takes the head node down with it
GCS_FT=${GCS_FT:-redis}
# Its own port per cluster, derived from RUN_DIR like RAY_TMPDIR (the test suite and the
# benchmarks run private clusters beside `make up`): in 20000-29999, below Linux's ephemeral
# ports (where free-port pickers land) and above Ray's worker ports (10002-19999).
REDIS_PORT=${REDIS_PORT:-$((20000 + 0x$(printf '%s' "$RUN_DIR" | md5sum | cut -c1-4) % 10000))}
REDIS_PASSWORD_FILE=${REDIS_PASSWORD_FILE:-$RUN_DIR/redis/password}
case $GCS_FT in
  redis)
    # Read by `ray start --head` (and the GCS it starts); the password goes in by flag.
    export RAY_REDIS_ADDRESS=127.0.0.1:$REDIS_PORT
    # One cluster per Redis here, but a fixed name says whose keys these are.
    export RAY_external_storage_namespace=${RAY_external_storage_namespace:-rsic}
    ;;
  off) unset RAY_REDIS_ADDRESS ;;
  *) echo "GCS_FT must be redis or off (got $GCS_FT)" >&2 && return 1 ;;
esac

# Serve's fast path (Ray 2.60). Every Ray process reads these at import, so they must be in
# the environment of `ray start`. benchmarks/RESULTS.md has what each mode buys here:
#   haproxy  HAProxy (C) takes the HTTP port instead of Serve's Python proxy and forwards to
#            each ingress replica's own HTTP server (direct ingress); handles use gRPC.
#   direct   direct ingress + gRPC handles, Serve's Python proxy still in front.
#   off      stock Ray Serve.
FAST_PATH=${FAST_PATH:-haproxy}
case $FAST_PATH in
  haproxy) export RAY_SERVE_THROUGHPUT_OPTIMIZED=1 RAY_SERVE_ENABLE_HA_PROXY=1 ;;
  direct) export RAY_SERVE_THROUGHPUT_OPTIMIZED=1 RAY_SERVE_ENABLE_HA_PROXY=0 ;;
  off) export RAY_SERVE_THROUGHPUT_OPTIMIZED=0 RAY_SERVE_ENABLE_HA_PROXY=0 ;;
  *) echo "FAST_PATH must be haproxy, direct or off (got $FAST_PATH)" >&2 && return 1 ;;
esac
# Ray's defaults put HAProxy's files in /tmp/haproxy-serve and its stats, metrics and the
# fallback proxy on fixed ports (8404, 9101, 8500): two clusters on one host (`make up` and
# the test suite) would fight over them. Each cluster gets its own, below its RUN_DIR-derived
# RAY_TMPDIR.
HAPROXY_DIR=$RAY_TMPDIR/h # Ray adds a 56-char node dir; HAProxy caps socket paths at 97
export RAY_SERVE_HAPROXY_CONFIG_FILE_LOC=$HAPROXY_DIR/haproxy.cfg
export RAY_SERVE_HAPROXY_SOCKET_PATH=$HAPROXY_DIR/admin.sock
export RAY_SERVE_HAPROXY_SERVER_STATE_BASE=$HAPROXY_DIR
export RAY_SERVE_HAPROXY_SERVER_STATE_FILE=$HAPROXY_DIR/server-state
export RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH=$HAPROXY_DIR/metrics.sock
export RAY_SERVE_HAPROXY_STATS_PORT=${HAPROXY_STATS_PORT:-8404}
export RAY_SERVE_HAPROXY_METRICS_PORT=${HAPROXY_METRICS_PORT:-9101}
export RAY_SERVE_FALLBACK_PROXY_HTTP_PORT=${FALLBACK_PROXY_PORT:-8500}
