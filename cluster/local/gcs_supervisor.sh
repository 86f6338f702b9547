#!/usr/bin/env bash
# usage: gcs_supervisor.sh SID_FILE ray start --head ... (start.sh runs it under setsid)
# The head's session leader with GCS fault tolerance on (GCS_FT=redis in env.sh): it runs
# `ray start` without --block, then restarts the GCS whenever it dies, with the command
# line Ray gave it. Ray itself never restarts a GCS: `ray start --block` kills every
# process of the node when one exits (KubeRay restarts the head pod instead), which would
# take the head's replicas and proxy with it. With the state in Redis, a new gcs_server on
# the same port is what the raylets, workers and Serve controller reconnect to (they wait
# gcs_rpc_server_reconnect_timeout_s, 60 s by default). Every process stays in this one
# session, so stop.sh stops this loop with the rest of the head.
set -uo pipefail
sid_file=$1
shift
echo $$ >"$sid_file"
"$@" || exit 1 # returns once the head's processes run; they stay in our session

log() { echo "$(date -u +%FT%TZ) gcs_supervisor: $*"; }
alive() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $state != Z* ]]
}
in_session() { pgrep -s $$ -x "$1" | head -n 1; }

pid=$(in_session gcs_server)
if [[ -z $pid ]]; then
  log "no gcs_server in session $$ after ray start; nothing to supervise"
  exit 1
fi
mapfile -d '' command <"/proc/$pid/cmdline"
log "supervising gcs_server (pid $pid)"
restarts=0
while true; do
  sleep 0.5
  alive "$pid" && continue
  if [[ -z $(in_session raylet) ]]; then
    log "gcs_server and raylet gone: the head is down; exiting"
    exit 0
  fi
  restarts=$((restarts + 1))
  # Its own log files come from its flags (--stdout_filepath, --stderr_filepath).
  "${command[@]}" </dev/null >/dev/null 2>&1 &
  log "gcs_server (pid $pid) exited; restarted as pid $! (restart $restarts)"
  pid=$!
done
