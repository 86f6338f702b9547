#!/usr/bin/env bash
# A local Prometheus for the Ray cluster of this checkout (start.sh), with the rules of
# monitoring/prometheus. usage: prometheus.sh start|stop|status|render|install
#   PROM_PORT (9090)  PROM_SCRAPE_INTERVAL (5s)  PROM_RETENTION (7d)
#   AM_PORT (9093): the Alertmanager it sends alerts to (alertmanager.sh)
#   PROM_RULES_DIR (monitoring/prometheus/rules): tests point it at shortened copies
# Everything it writes lives in $RUN_DIR/prometheus; stop stops only the process it started.
set -euo pipefail
source "$(dirname "$0")/env.sh"
source "$(dirname "$0")/terminate.sh"
source "$(dirname "$0")/debian.sh"
PROM_PORT=${PROM_PORT:-9090}
PROM_SCRAPE_INTERVAL=${PROM_SCRAPE_INTERVAL:-5s}
PROM_RETENTION=${PROM_RETENTION:-7d}
PROM_DIR=$RUN_DIR/prometheus
CONFIG=$PROM_DIR/prometheus.yml
PID_FILE=$PROM_DIR/prometheus.pid
LOG=$PROM_DIR/prometheus.log
URL=http://127.0.0.1:$PROM_PORT
# Ray links this to the current session's file; it exists only while a cluster runs, and
# Prometheus picks it up whenever it appears.
SD_FILE=$RAY_TMPDIR/ray/prom_metrics_service_discovery.json

# True only for the Prometheus this script started: a recycled pid runs something else.
running() {
  [[ -f $PID_FILE ]] || return 1
  local pid
  pid=$(cat "$PID_FILE")
  kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--config.file=$CONFIG"
}

ensure_installed() {
  command -v prometheus >/dev/null && return 0
  # Debian's package; on a systemd host it also enables a system-wide Prometheus on
  # :9090, which then holds the default PROM_PORT.
  echo "prometheus not found; installing Debian's package" >&2
  apt_install "$RUN_DIR/prometheus-install.log" prometheus || true
  command -v prometheus >/dev/null
}

render() {
  mkdir -p "$PROM_DIR"
  python "$ROOT/monitoring/prometheus/render.py" \
    --sd-file "$SD_FILE" \
    --rules-dir "${PROM_RULES_DIR:-$ROOT/monitoring/prometheus/rules}" \
    --listen-port "$PROM_PORT" \
    --alertmanager-port "${AM_PORT:-9093}" \
    --scrape-interval "$PROM_SCRAPE_INTERVAL" \
    --local-hosts "$(hostname -I 2>/dev/null || true)" \
    --out "$CONFIG"
}

start() {
  mkdir -p "$RUN_DIR"
  if ! ensure_installed; then
    echo "monitoring is off: prometheus not installed (apt-get install prometheus)"
    exit 0
  fi
  render
  if running; then
    # SIGHUP reloads the config and rules: a second start picks up edits to either.
    kill -HUP "$(cat "$PID_FILE")"
    echo "prometheus already running at $URL (pid $(cat "$PID_FILE")); config reloaded"
    exit 0
  fi
  # Its own session, like the Ray head, so that neither Ctrl-C in this shell nor
  # stop.sh reaches it; the pid recorded is Prometheus's own (exec).
  setsid bash -c 'echo $$ > "$0"; exec "$@"' "$PID_FILE" \
    prometheus \
    --config.file="$CONFIG" \
    --storage.tsdb.path="$PROM_DIR/data" \
    --storage.tsdb.retention.time="$PROM_RETENTION" \
    --web.listen-address="127.0.0.1:$PROM_PORT" \
    --web.enable-lifecycle \
    >"$LOG" 2>&1 </dev/null &
  local launcher=$!
  for _ in $(seq 1 60); do
    if curl -sf -o /dev/null "$URL/-/ready"; then
      echo "prometheus up: $URL (scrape every $PROM_SCRAPE_INTERVAL, targets from $SD_FILE)"
      exit 0
    fi
    if ! kill -0 "$launcher" 2>/dev/null; then
      echo "prometheus failed to start; last lines of $LOG:" >&2
      tail -n 20 "$LOG" >&2
      rm -f "$PID_FILE"
      exit 1
    fi
    sleep 0.5
  done
  echo "prometheus did not become ready in 30 s; see $LOG" >&2
  exit 1
}

stop() {
  if ! running; then
    rm -f "$PID_FILE"
    echo "no prometheus started from this checkout"
    return 0
  fi
  # Prometheus flushes its head block on SIGTERM; give it time before insisting.
  terminate "$PID_FILE" prometheus 20
}

status() {
  if ! running; then
    echo "prometheus not running"
    exit 3
  fi
  local targets
  targets=$(curl -sf "$URL/api/v1/targets?state=active" | python -c '
import json, sys
active = json.load(sys.stdin)["data"]["activeTargets"]
up = sum(t["health"] == "up" for t in active)
print(f"{up}/{len(active)} targets up")' || echo "targets unknown")
  echo "prometheus running at $URL (pid $(cat "$PID_FILE")), $targets"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  render) render && echo "$CONFIG" ;;
  install)
    # For bootstrap: promtool (same package) is what the test suite checks the rules with.
    mkdir -p "$RUN_DIR"
    if ensure_installed; then
      prometheus --version 2>&1 | head -n 1
    else
      echo "monitoring is off: prometheus not installed"
    fi
    ;;
  *)
    echo "usage: $0 start|stop|status|render|install" >&2
    exit 2
    ;;
esac
