#!/usr/bin/env bash
# Sign-in benchmark (`make bench`): a release build of the real server on 127.0.0.1:18080,
# backed by a fresh PostgreSQL database `shiftwire_bench`, loaded by `shiftwire-loadgen auth`
# from the same machine. Everything stays on the loopback interface, every phase is bounded,
# and the run stops by itself.
#
# Usage: scripts/bench.sh [extra shiftwire-loadgen auth flags]
#   make bench                                   # full run; records results in BENCHMARKS.md
#   make bench ARGS="--duration-secs 3"          # quick smoke run; BENCHMARKS.md untouched
#   BENCH_RECORD=1 make bench ARGS="--logins 20" # record a run with custom flags anyway
#
# Results: target/bench/auth.json, target/bench/auth.md, the server's log in
# target/bench/server.log, and (when recorded) the block between the
# `<!-- bench:auth:start -->` / `<!-- bench:auth:end -->` markers in BENCHMARKS.md. Text
# outside those markers is kept as it is.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BENCH_DB=shiftwire_bench
BIND=127.0.0.1:18080
WEBHOOK=127.0.0.1:18099
ADMIN_EMAIL=bench-admin@shiftwire.example
# A throwaway account in a throwaway local database; not a secret.
ADMIN_PASSWORD=bench-only-password-0001
TARGET=${CARGO_TARGET_DIR:-target}
OUT=target/bench
START_MARK='<!-- bench:auth:start -->'
END_MARK='<!-- bench:auth:end -->'

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Record in BENCHMARKS.md? By default only the canonical run (no extra flags) is recorded,
# so a smoke run never replaces the real numbers.
case ${BENCH_RECORD:-auto} in
  1 | yes | true) RECORD=1 ;;
  0 | no | false) RECORD=0 ;;
  auto) if (($#)); then RECORD=0; else RECORD=1; fi ;;
  *) die "BENCH_RECORD must be 1, 0 or auto" ;;
esac

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "${BIND##*:}" "${WEBHOOK##*:}"; do
  port_busy "$port" && die "port $port on 127.0.0.1 is already in use (an earlier run still going?)"
done

# --- database: same server as the dev database, a fresh `shiftwire_bench` each run ----------
DBURL=$(bash scripts/ensure-postgres.sh | tail -n1 | sed 's/^DATABASE_URL=//')
test -n "$DBURL" || die "ensure-postgres.sh gave no DATABASE_URL"
URL_RE='^(postgres(ql)?://[^/?]*)(/([^?]*))?(\?.*)?$'
[[ $DBURL =~ $URL_RE ]] || die "not a postgres:// URL from ensure-postgres.sh"
ADMIN_URL="${BASH_REMATCH[1]}/postgres${BASH_REMATCH[5]}"
BENCH_URL="${BASH_REMATCH[1]}/$BENCH_DB${BASH_REMATCH[5]}"
log "recreating database $BENCH_DB"
psql -X "$ADMIN_URL" -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)"
BENCH_URL=$(DATABASE_URL="$BENCH_URL" bash scripts/ensure-postgres.sh | tail -n1 | sed 's/^DATABASE_URL=//')
[[ $BENCH_URL == */"$BENCH_DB" || $BENCH_URL == */"$BENCH_DB"\?* ]] || die "ensure-postgres.sh did not give the $BENCH_DB database"

# --- build -------------------------------------------------------------------------------
log "building release binaries"
SQLX_OFFLINE=true cargo build --release --bin shiftwire --bin shiftwire-loadgen
SERVER_BIN=$TARGET/release/shiftwire
LOADGEN_BIN=$TARGET/release/shiftwire-loadgen

DATABASE_URL="$BENCH_URL" RUST_LOG=warn "$SERVER_BIN" migrate >&2
DATABASE_URL="$BENCH_URL" RUST_LOG=warn SHIFTWIRE_PASSWORD="$ADMIN_PASSWORD" \
  "$SERVER_BIN" admin create-user --email "$ADMIN_EMAIL" --role admin >&2

# --- server ------------------------------------------------------------------------------
mkdir -p "$OUT"
SERVER_PID=""
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
trap stop_server EXIT

log "starting the server on $BIND (log: $OUT/server.log)"
env DATABASE_URL="$BENCH_URL" BIND_ADDR="$BIND" \
  SMS_PROVIDER=webhook SMS_WEBHOOK_URL="http://$WEBHOOK/sms" \
  RUST_LOG=warn LOG_FORMAT=json \
  OTP_SENDS_PER_IP_PER_HOUR=1000000 OTP_VERIFY_ATTEMPTS_PER_IP_PER_MINUTE=1000000 \
  LOGIN_ATTEMPTS_PER_IP_PER_MINUTE=1000000 REFRESHES_PER_IP_PER_MINUTE=1000000 \
  "$SERVER_BIN" serve >"$OUT/server.log" 2>&1 &
SERVER_PID=$!

ready=0
for _ in $(seq 100); do
  kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited at start-up; see $OUT/server.log"
  if curl --noproxy '*' -fsS -o /dev/null --max-time 1 "http://$BIND/readyz" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.1
done
((ready)) || die "the server was not ready within 10 s; see $OUT/server.log"

# --- load --------------------------------------------------------------------------------
LOADGEN=("$LOADGEN_BIN" auth --base-url "http://$BIND" --email "$ADMIN_EMAIL"
  --webhook-addr "$WEBHOOK" --json-out "$OUT/auth.json" --markdown-out "$OUT/auth.md" "$@")
# CPU accounting, to tell whether something else on the machine (a compiler, say) took CPU
# during the run: all busy time, minus what the server, PostgreSQL and the load generator used.
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; } # user nice system irq softirq
proc_ticks() { # utime+stime+cutime+cstime of the given pids (children: exited PostgreSQL backends)
  local pid total=0
  for pid in "$@"; do
    [[ -r /proc/$pid/stat ]] || continue
    total=$((total + $(sed 's/^.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 + $14 + $15 }')))
  done
  echo "$total"
}
postgres_ticks() {
  local pids
  mapfile -t pids < <(pgrep -u postgres || true)
  proc_ticks "${pids[@]}"
}
children_secs() { awk 'END { split($1, u, /[ms]/); split($2, s, /[ms]/); print u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$1"; }
TICK=$(getconf CLK_TCK)

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average before: $LOAD_BEFORE"
times >"$OUT/times.before" # `times` in this shell (not a subshell): its children's CPU so far
BUSY0=$(busy_ticks) SERVER0=$(proc_ticks "$SERVER_PID") PG0=$(postgres_ticks) WALL0=$(date +%s.%N)
SHIFTWIRE_BENCH_PASSWORD="$ADMIN_PASSWORD" "${LOADGEN[@]}"
BUSY1=$(busy_ticks) SERVER1=$(proc_ticks "$SERVER_PID") PG1=$(postgres_ticks) WALL1=$(date +%s.%N)
times >"$OUT/times.after"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average after: $LOAD_AFTER"
IFS=$'\t' read -r CPU_USE OTHER_SHARE < <(awk -v t="$TICK" -v n="$(nproc)" -v w0="$WALL0" -v w1="$WALL1" \
  -v busy=$((BUSY1 - BUSY0)) -v server=$((SERVER1 - SERVER0)) -v pg=$((PG1 - PG0)) \
  -v lg0="$(children_secs "$OUT/times.before")" -v lg1="$(children_secs "$OUT/times.after")" 'BEGIN {
    wall = w1 - w0; avail = wall * n; lg = lg1 - lg0
    other = busy / t - server / t - pg / t - lg; if (other < 0) other = 0
    printf "server %.1f, PostgreSQL (whole server) %.1f, load generator %.1f, other processes %.1f, of %.0f available in %.0f s\t%.0f\n",
      server / t, pg / t, lg, other, avail, wall, 100 * other / avail
  }')
log "CPU seconds during the run: $CPU_USE"
if ((OTHER_SHARE >= 5)); then
  log "WARNING: other processes used ${OTHER_SHARE}% of the CPU during the run; the numbers are disturbed"
fi
kill -0 "$SERVER_PID" 2>/dev/null || die "the server died during the run; see $OUT/server.log"
stop_server
trap - EXIT

SERVER_WARNINGS=$(grep -c '"level":"WARN"' "$OUT/server.log" || true)
SERVER_ERRORS=$(grep -c '"level":"ERROR"' "$OUT/server.log" || true)
((SERVER_WARNINGS + SERVER_ERRORS == 0)) ||
  log "the server logged $SERVER_ERRORS errors and $SERVER_WARNINGS warnings; see $OUT/server.log"

if ((!RECORD)); then
  log "not recording in BENCHMARKS.md (extra flags given; BENCH_RECORD=1 records anyway); results in $OUT/auth.md"
  exit 0
fi

# --- BENCHMARKS.md -----------------------------------------------------------------------
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n "$(git status --porcelain -- . ':(exclude)BENCHMARKS.md' 2>/dev/null)" ]]; then
  COMMIT="$COMMIT-dirty"
fi
CPU=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)
MEM_GIB=$(free -g | awk '/^Mem:/ { print $2 }')
COMMAND="make bench"
(($#)) && COMMAND="make bench ARGS=\"$*\""
LOADGEN_SHOWN=$(printf '%q ' "${LOADGEN[@]}")

BLOCK=$(mktemp)
NEW=$(mktemp)
trap 'rm -f "$BLOCK" "$NEW"' EXIT
{
  echo "$START_MARK"
  echo "## Sign-in: \`/healthz\` under password logins, OTP verify throughput"
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- Commit: \`$COMMIT\`"
  echo "- Machine: $(nproc) CPUs (${CPU:-unknown CPU}), ${MEM_GIB} GiB RAM, Linux $(uname -r); load average (1/5/15 min) $LOAD_BEFORE before the run, $LOAD_AFTER after"
  echo "- Command: \`$COMMAND\`, which ran \`${LOADGEN_SHOWN% }\` against \`shiftwire serve\` (release build, \`RUST_LOG=warn\`, per-IP rate limits raised)"
  echo "- CPU seconds used during the load generator's run: $CPU_USE (other processes: ${OTHER_SHARE}% of the machine)"
  echo "- Server log during the run: $SERVER_ERRORS errors, $SERVER_WARNINGS warnings"
  echo
  cat "$OUT/auth.md"
  echo "$END_MARK"
} >"$BLOCK"

if [[ -f BENCHMARKS.md ]] && grep -qxF "$START_MARK" BENCHMARKS.md && grep -qxF "$END_MARK" BENCHMARKS.md; then
  awk -v start="$START_MARK" -v end="$END_MARK" -v block="$BLOCK" '
    $0 == start { while ((getline line < block) > 0) print line; skip = 1; next }
    $0 == end { skip = 0; next }
    !skip { print }
  ' BENCHMARKS.md >"$NEW"
elif [[ -f BENCHMARKS.md ]]; then
  { cat BENCHMARKS.md; echo; cat "$BLOCK"; } >"$NEW"
else
  cat >"$NEW" <<'EOF'
# Benchmarks

Recorded runs of the project's benchmarks, newest run of each in place. Regenerate with
`make bench` (needs only what `make up` needs: it builds release binaries, recreates a
`shiftwire_bench` database on the local PostgreSQL, starts the server on 127.0.0.1:18080 and
stops it again). Only the marked blocks are rewritten; text outside them is kept.

**Sign-in** (`shiftwire-loadgen auth`, in `load-tests/`) answers: does password hashing stall
the server? It measures the latency of `GET /healthz`, sent open-loop at a fixed rate (so a
stall shows up as latency rather than as requests never sent), first alone and then, in the
same run, while 50 clients sign in with a password in a loop (argon2id, m = 19 MiB, t = 2,
p = 1, at most one hash per core at a time). It also measures how many SMS sign-in codes
(`POST /v1/auth/otp/verify`) the server verifies per second; the codes arrive through the
SMS webhook, which the load generator serves itself.

The server, its PostgreSQL and the load generator share one 2-core machine, so the load
generator takes CPU from the server: absolute numbers are conservative, and the comparison
within one run is what counts.

EOF
  cat "$BLOCK" >>"$NEW"
fi
cat "$NEW" >BENCHMARKS.md
log "recorded the results in BENCHMARKS.md"
