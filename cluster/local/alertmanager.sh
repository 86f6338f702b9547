#!/usr/bin/env bash
# A local Alertmanager for the Prometheus of prometheus.sh, plus the default receiver it
# notifies (monitoring/alertmanager/receiver.py appends each notification to a file).
# usage: alertmanager.sh start|stop|status|render|install
#   AM_PORT (9093)  AM_RECEIVER_PORT (9095)
#   AM_GROUP_WAIT, AM_GROUP_INTERVAL, AM_REPEAT_INTERVAL: override every route's (tests)
# Everything it writes lives in $RUN_DIR/alertmanager; stop stops only the processes it
# started. Alertmanager runs alone (no gossip cluster: --cluster.listen-address empty) and
# listens on loopback only.
set -euo pipefail
source "$(dirname "$0")/env.sh"
source "$(dirname "$0")/terminate.sh"
source "$(dirname "$0")/debian.sh"
AM_PORT=${AM_PORT:-9093}
AM_RECEIVER_PORT=${AM_RECEIVER_PORT:-9095}
AM_DIR=$RUN_DIR/alertmanager
CONFIG=$AM_DIR/alertmanager.yml
PID_FILE=$AM_DIR/alertmanager.pid
RECEIVER_PID_FILE=$AM_DIR/receiver.pid
LOG=$AM_DIR/alertmanager.log
RECEIVER_LOG=$AM_DIR/receiver.log
NOTIFICATIONS=$AM_DIR/notifications.jsonl
URL=http://127.0.0.1:$AM_PORT
# Debian installs the server as prometheus-alertmanager; upstream's tarball calls it alertmanager.
AM_BIN=$(command -v prometheus-alertmanager || command -v alertmanager || true)
RECEIVER_URL=http://127.0.0.1:$AM_RECEIVER_PORT

# True only for a process this script started: a recycled pid runs something else.
# $1: pid file, $2: an argument only our process has on its command line.
ours() {
  [[ -f $1 ]] || return 1
  local pid
  pid=$(cat "$1")
  kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"
}
running() { ours "$PID_FILE" "--config.file=$CONFIG"; }
receiver_running() { ours "$RECEIVER_PID_FILE" "--out $NOTIFICATIONS"; }

ensure_installed() {
  [[ -n $AM_BIN ]] && command -v amtool >/dev/null && return 0
  # Debian's package (Alertmanager and amtool); on a systemd host it also enables a
  # system-wide Alertmanager on :9093, which then holds the default AM_PORT.
  echo "alertmanager not found; installing Debian's package" >&2
  apt_install "$RUN_DIR/alertmanager-install.log" prometheus-alertmanager || true
  AM_BIN=$(command -v prometheus-alertmanager || command -v alertmanager || true)
  [[ -n $AM_BIN ]] && command -v amtool >/dev/null
}

render() {
  mkdir -p "$AM_DIR"
  local timers=()
  [[ -n ${AM_GROUP_WAIT:-} ]] && timers+=(--group-wait "$AM_GROUP_WAIT")
  [[ -n ${AM_GROUP_INTERVAL:-} ]] && timers+=(--group-interval "$AM_GROUP_INTERVAL")
  [[ -n ${AM_REPEAT_INTERVAL:-} ]] && timers+=(--repeat-interval "$AM_REPEAT_INTERVAL")
  python "$ROOT/monitoring/alertmanager/render.py" \
    --receiver-port "$AM_RECEIVER_PORT" "${timers[@]}" --out "$CONFIG"
  amtool check-config "$CONFIG" >/dev/null
}

# $1: pid file, $2: readiness URL, $3: log, $4: name, then the command.
launch() {
  local pid_file=$1 ready=$2 log=$3 name=$4
  shift 4
  # Its own session, like the Ray head, so that neither Ctrl-C in this shell nor stop.sh
  # reaches it; the pid recorded is the process's own (exec).
  setsid bash -c 'echo $$ > "$0"; exec "$@"' "$pid_file" "$@" >"$log" 2>&1 </dev/null &
  local launcher=$!
  for _ in $(seq 1 60); do
    curl -sf -o /dev/null "$ready" && return 0
    if ! kill -0 "$launcher" 2>/dev/null; then
      echo "$name failed to start; last lines of $log:" >&2
      tail -n 20 "$log" >&2
      rm -f "$pid_file"
      return 1
    fi
    sleep 0.5
  done
  echo "$name did not become ready in 30 s; see $log" >&2
  return 1
}

start() {
  mkdir -p "$RUN_DIR"
  if ! ensure_installed; then
    echo "alerting is off: alertmanager not installed (apt-get install prometheus-alertmanager)"
    exit 0
  fi
  render
  if ! receiver_running; then
    launch "$RECEIVER_PID_FILE" "$RECEIVER_URL/healthz" "$RECEIVER_LOG" "alert receiver" \
      python "$ROOT/monitoring/alertmanager/receiver.py" \
      --port "$AM_RECEIVER_PORT" --out "$NOTIFICATIONS"
  fi
  if running; then
    # SIGHUP reloads the config: a second start picks up edits.
    kill -HUP "$(cat "$PID_FILE")"
    echo "alertmanager already running at $URL (pid $(cat "$PID_FILE")); config reloaded"
    exit 0
  fi
  launch "$PID_FILE" "$URL/-/ready" "$LOG" alertmanager \
    "$AM_BIN" \
    --config.file="$CONFIG" \
    --storage.path="$AM_DIR/data" \
    --web.listen-address="127.0.0.1:$AM_PORT" \
    --cluster.listen-address=
  echo "alertmanager up: $URL (notifications: $NOTIFICATIONS)"
}

stop() {
  if running; then terminate "$PID_FILE" alertmanager 10; else
    rm -f "$PID_FILE"
    echo "no alertmanager started from this checkout"
  fi
  if receiver_running; then terminate "$RECEIVER_PID_FILE" "alert receiver" 10; else
    rm -f "$RECEIVER_PID_FILE"
  fi
}

status() {
  if ! running; then
    echo "alertmanager not running"
    exit 3
  fi
  local firing
  firing=$(curl -sf "$URL/api/v2/alerts?active=true" |
    python -c 'import json, sys; print(len(json.load(sys.stdin)))' || echo "?")
  echo "alertmanager running at $URL (pid $(cat "$PID_FILE")), $firing alerts active;" \
    "receiver $(receiver_running && echo up || echo DOWN), notifications in $NOTIFICATIONS"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  render) render && echo "$CONFIG" ;;
  install)
    # For bootstrap: amtool (same package) checks the config in the test suite.
    mkdir -p "$RUN_DIR"
    if ensure_installed; then
      "$AM_BIN" --version 2>&1 | head -n 1
    else
      echo "alerting is off: alertmanager not installed"
    fi
    ;;
  *)
    echo "usage: $0 start|stop|status|render|install" >&2
    exit 2
    ;;
esac
