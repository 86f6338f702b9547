# Sourced by the local service scripts (prometheus.sh, alertmanager.sh, redis.sh); runs nothing.
# terminate PID_FILE NAME GRACE_S: SIGTERM the process in PID_FILE (already known to be
# ours), give it GRACE_S seconds to exit cleanly, then SIGKILL; removes PID_FILE.
terminate() {
  local pid
  pid=$(cat "$1")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $(($3 * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$1"
  echo "$2 stopped (pid $pid)"
}
