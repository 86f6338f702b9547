# Sourced by the scripts that install a Debian package they need (prometheus.sh,
# alertmanager.sh, redis.sh, benchmarks/perf_analyzer.sh, the Makefile's bootstrap); runs
# nothing. Only as root with apt-get; no systemd needed (the scripts start what they run).
# apt_install LOG PACKAGE...: install PACKAGE(s), refreshing the package lists only when
# the first try fails (a fresh image has none); output to LOG. Returns apt-get's status.
apt_install() {
  local log=$1
  shift
  [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null || return 1
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -q "$@" || { apt-get update -q && apt-get install -y -q "$@"; }; } \
    >"$log" 2>&1
}
