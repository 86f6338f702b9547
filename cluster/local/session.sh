# stop_session SID_FILE WHAT: stop every process of the setsid session recorded in SID_FILE
# (a Ray node started by start.sh or add_worker.sh), and nothing else. Source it.
stop_session() {
  local sid_file=$1 what=$2 sid
  [[ -f $sid_file ]] || return 0
  sid=$(cat "$sid_file")
  if pgrep -s "$sid" >/dev/null 2>&1; then
    pkill -TERM -s "$sid" || true
    for _ in $(seq 1 10); do
      pgrep -s "$sid" >/dev/null 2>&1 || break
      sleep 1
    done
    # Some Ray actors ignore SIGTERM while their owner is gone; `ray stop` does the same.
    pkill -KILL -s "$sid" 2>/dev/null || true
    for _ in $(seq 1 20); do
      pgrep -s "$sid" >/dev/null 2>&1 || break
      sleep 0.5
    done
    if pgrep -s "$sid" >/dev/null 2>&1; then
      echo "some processes of $what (session $sid) are still exiting: $(pgrep -s "$sid" | xargs)" >&2
    else
      echo "$what stopped (session $sid)"
    fi
  fi
  rm -f "$sid_file"
}
