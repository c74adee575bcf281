# shellcheck shell=bash
# Shared by the scripts that run a real Shiftwire server against a throwaway database
# (bench.sh, chaos-postgres.sh, contract-test.sh, e2e.sh): a fresh database on the local
# PostgreSQL, and one server process started, awaited and stopped the same way everywhere.
#
# Source it from the repository root, after setting LOG_TAG (the prefix of every message):
#   LOG_TAG=bench
#   source scripts/lib.sh
# It sets no shell options; the scripts keep their own `set -euo pipefail`.

log() { printf '%s: %s\n' "${LOG_TAG:-script}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# apt_install PACKAGE...: installs what a script needs on Debian/Ubuntu, as root or with
# password-less sudo (apt-get update once per script run); fails where neither is possible.
can_root() { [[ $EUID -eq 0 ]] || { command -v sudo >/dev/null && sudo -n true 2>/dev/null; }; }
as_root() { if [[ $EUID -eq 0 ]]; then "$@"; else sudo -n "$@"; fi; }
APT_UPDATED=0
apt_install() { # apt_install PACKAGE...: Debian/Ubuntu only, as root or with password-less sudo
  command -v apt-get >/dev/null && can_root || return 1
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300)
  if [[ $APT_UPDATED == 0 ]]; then
    log "apt-get update"
    as_root "${apt[@]}" update >&2 || return 1
    APT_UPDATED=1
  fi
  log "apt-get install -y $*"
  as_root "${apt[@]}" install -y --no-install-recommends "$@" >&2
}

# The bench-only and chaos set-up SQL, one file per step, run with `psql -v name=value -f`.
# shellcheck disable=SC2034 # for the scripts that source this
BENCH_SQL=crates/test-support/sql/bench

# fresh_db NAME: drops database NAME on the local PostgreSQL (with FORCE, so leftover
# connections of an earlier run cannot keep it) and creates it again with PostGIS and
# btree_gist. scripts/ensure-postgres.sh does the work of finding, installing or starting the
# server and of creating the database and its extensions, so every script gets the same
# server and the same credentials as `make up` and `make test`. Sets:
#   DB_URL     the new database's URL
#   ADMIN_URL  the same server's `postgres` database (for DROP DATABASE, pg_stat_activity)
fresh_db() {
  local name=$1 url re='^(postgres(ql)?://[^/?]*)(/([^?]*))?(\?.*)?$'
  # First call: whatever DATABASE_URL says (or the default), only to learn where the server
  # is and how to sign in to it.
  url=$(bash scripts/ensure-postgres.sh | tail -n1 | sed 's/^DATABASE_URL=//')
  [[ -n $url ]] || die "ensure-postgres.sh gave no DATABASE_URL"
  [[ $url =~ $re ]] || die "not a postgres:// URL from ensure-postgres.sh"
  ADMIN_URL="${BASH_REMATCH[1]}/postgres${BASH_REMATCH[5]}"
  DB_URL="${BASH_REMATCH[1]}/$name${BASH_REMATCH[5]}"
  log "recreating database $name"
  psql -X "$ADMIN_URL" -q -v ON_ERROR_STOP=1 -v db="$name" \
    <<<"SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'db') \\gexec"
  # Second call: creates the database and its extensions (and says so if it cannot).
  DB_URL=$(DATABASE_URL="$DB_URL" bash scripts/ensure-postgres.sh | tail -n1 | sed 's/^DATABASE_URL=//')
  [[ $DB_URL == */"$name" || $DB_URL == */"$name"\?* ]] || die "ensure-postgres.sh did not give the $name database"
}

# bench_provenance: for the header of a block recorded in BENCHMARKS.md, sets COMMIT (the
# short hash, with "-dirty" when anything but BENCHMARKS.md differs from it), CPU (the
# model name) and MEM_GIB.
bench_provenance() {
  COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [[ -n "$(git status --porcelain -- . ':(exclude)BENCHMARKS.md' 2>/dev/null)" ]]; then
    COMMIT="$COMMIT-dirty"
  fi
  CPU=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)
  MEM_GIB=$(free -g | awk '/^Mem:/ { print $2 }')
}

# record_setting AUTO: sets RECORD from BENCH_RECORD (1/yes/true, 0/no/false), or to AUTO
# (1 or 0, the script's own rule for a canonical run) when it is unset or `auto`.
record_setting() {
  case ${BENCH_RECORD:-auto} in
    1 | yes | true) RECORD=1 ;;
    0 | no | false) RECORD=0 ;;
    auto) RECORD=$1 ;;
    *) die "BENCH_RECORD must be 1, 0 or auto" ;;
  esac
}

# replace_block START END BLOCK: prints BENCHMARKS.md with the lines from the marker line
# START to the marker line END replaced by the file BLOCK (which holds its own markers).
replace_block() {
  awk -v start="$1" -v end="$2" -v block="$3" '
    $0 == start { while ((getline line < block) > 0) print line; skip = 1; next }
    $0 == end { skip = 0; next }
    !skip { print }
  ' BENCHMARKS.md
}

# start_server BIN LOG [VAR=value...] [-- SERVE_ARGS...]: starts `BIN serve SERVE_ARGS` in
# the background with the given environment on top of this shell's (later assignments of
# the same variable win, as with env), stdout and stderr to LOG. Sets SERVER_PID and
# SERVER_SPAWNED_AT (epoch seconds, for start-up timings); stop it with stop_server.
SERVER_PID=""
start_server() {
  local bin=$1 server_log=$2 vars=()
  shift 2
  while (($#)) && [[ $1 != -- ]]; do vars+=("$1"); shift; done
  (($#)) && shift # the --
  SERVER_SPAWNED_AT=$(date +%s.%N)
  env "${vars[@]}" "$bin" serve "$@" >"$server_log" 2>&1 &
  SERVER_PID=$!
  SERVER_LOG_FILE=$server_log
}

# wait_ready BASE_URL TIMEOUT_SECS [INTERVAL_SECS]: polls BASE_URL/readyz (every
# INTERVAL_SECS, default 0.1) until it answers 200. Dies if the server started by
# start_server exits meanwhile (a port already taken, a bad setting: waiting on would only
# hide it, or worse, find another process's server ready) or is not ready within
# TIMEOUT_SECS. Sets SERVER_READY_SECS: spawn to the first 200, to the poll interval.
wait_ready() {
  local base=$1 timeout=$2 interval=${3:-0.1} deadline ready_at
  deadline=$((SECONDS + timeout))
  while :; do
    kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited at start-up; see $SERVER_LOG_FILE"
    # Loopback only: a proxy from the environment must not answer for it.
    if curl --noproxy '*' -fsS -o /dev/null --max-time 1 "$base/readyz" 2>/dev/null; then
      ready_at=$(date +%s.%N)
      # shellcheck disable=SC2034 # for the caller
      SERVER_READY_SECS=$(awk -v a="$SERVER_SPAWNED_AT" -v b="$ready_at" 'BEGIN { printf "%.3f", b - a }')
      return 0
    fi
    ((SECONDS < deadline)) || die "the server was not ready within $timeout s; see $SERVER_LOG_FILE"
    sleep "$interval"
  done
}

# stop_server: TERM (the server drains its connections and exits), up to 10 s for it to do
# so, then KILL; reaps it, so its port is free when this returns. Does nothing if no server
# is running; safe in an EXIT trap.
stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
