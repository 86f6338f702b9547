#!/usr/bin/env bash
# The Redis that backs the local Ray head's GCS (GCS fault tolerance, GCS_FT=redis in
# env.sh): Ray keeps its cluster state (nodes, actors, jobs, Serve's checkpoint in the
# internal KV) there, so a GCS that dies, or a head that restarts, finds it again.
# usage: redis.sh start|stop|status|install
#   REDIS_PORT (one per run dir; env.sh)  password: $RUN_DIR/redis/password (0600, made on first start)
# Loopback only, data under $RUN_DIR/redis; stop stops only the process it started and
# drops the data: the state of a cluster that no longer runs describes nothing.
# For production, a managed Redis instead (cluster/README.md).
set -euo pipefail
source "$(dirname "$0")/env.sh"
source "$(dirname "$0")/terminate.sh"
source "$(dirname "$0")/debian.sh"
REDIS_DIR=$RUN_DIR/redis
CONF=$REDIS_DIR/redis.conf
PID_FILE=$REDIS_DIR/redis.pid
LOG=$REDIS_DIR/redis.log

# True only for the Redis this script started: a recycled pid runs something else.
running() {
  [[ -f $PID_FILE ]] || return 1
  local pid
  pid=$(cat "$PID_FILE")
  kill -0 "$pid" 2>/dev/null && [[ $(readlink "/proc/$pid/cwd" 2>/dev/null) == "$REDIS_DIR/data" ]]
}

ensure_installed() {
  command -v redis-server >/dev/null && return 0
  # Debian's package; on a systemd host it also enables a system-wide Redis on :6379,
  # which is why REDIS_PORT is never 6379 (the GCS's RAY_PORT, too).
  echo "redis-server not found; installing Debian's package" >&2
  apt_install "$RUN_DIR/redis-install.log" redis-server || true
  command -v redis-server >/dev/null
}

# The password file: 32 random bytes, hex, readable only by us; made once per run dir.
password() {
  if [[ ! -s $REDIS_PASSWORD_FILE ]]; then
    mkdir -p "$(dirname "$REDIS_PASSWORD_FILE")"
    (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$REDIS_PASSWORD_FILE")
  fi
  cat "$REDIS_PASSWORD_FILE"
}

cli() { REDISCLI_AUTH=$(password) redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

start() {
  mkdir -p "$REDIS_DIR/data"
  chmod 700 "$REDIS_DIR"
  if ! ensure_installed; then
    echo "redis-server not installed (apt-get install redis-server); or GCS_FT=off" >&2
    exit 1
  fi
  if running; then
    echo "redis already running on 127.0.0.1:$REDIS_PORT (pid $(cat "$PID_FILE"))"
    exit 0
  fi
  # The config holds the password, so it is 0600 like the password file. Append-only file
  # with an fsync a second: a Redis restart loses at most a second of GCS writes.
  (
    umask 077
    cat >"$CONF" <<EOF
bind 127.0.0.1
protected-mode yes
port $REDIS_PORT
requirepass $(password)
dir $REDIS_DIR/data
appendonly yes
appendfsync everysec
save ""
daemonize no
logfile $LOG
EOF
  )
  # Its own session, like the Ray head, so that neither Ctrl-C in this shell nor
  # stop.sh's session kill reaches it. Redis changes to its `dir`, which running() checks.
  setsid bash -c 'echo $$ > "$0"; exec "$@"' "$PID_FILE" \
    redis-server "$CONF" </dev/null >/dev/null 2>&1 &
  for _ in $(seq 1 50); do
    if cli ping 2>/dev/null | grep -q PONG; then
      echo "redis up: 127.0.0.1:$REDIS_PORT (password in $REDIS_PASSWORD_FILE, data in $REDIS_DIR/data)"
      exit 0
    fi
    sleep 0.1
  done
  echo "redis did not answer in 5 s; last lines of $LOG:" >&2
  tail -n 20 "$LOG" >&2 || true
  exit 1
}

stop() {
  if ! running; then
    rm -f "$PID_FILE"
    rm -rf "$REDIS_DIR/data"
    echo "no redis started from this checkout"
    return 0
  fi
  terminate "$PID_FILE" redis 5
  rm -rf "$REDIS_DIR/data"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status)
    if running; then
      echo "redis running on 127.0.0.1:$REDIS_PORT (pid $(cat "$PID_FILE")), $(cli dbsize) keys"
    else
      echo "redis not running"
      exit 3
    fi
    ;;
  install)
    mkdir -p "$RUN_DIR"
    if ensure_installed; then
      redis-server --version
    else
      echo "redis-server not installed: GCS fault tolerance needs it (or GCS_FT=off)"
    fi
    ;;
  *)
    echo "usage: $0 start|stop|status|install" >&2
    exit 2
    ;;
esac
