#!/usr/bin/env bash
# Benchmark of the payroll export (`make bench-timesheets`): `GET
# /v1/facilities/{fid}/timesheets.csv` over 100,000 approved timesheets at one facility,
# served by a release build of the real server on 127.0.0.1:18081 backed by a fresh
# PostgreSQL database `shiftwire_bench_timesheets`. It answers: how long does the export
# take, and does the server stream it (its memory stays flat) or build it in memory (its
# memory grows with the file)?
#
# Usage: scripts/bench-timesheets.sh [ROWS]     (default 100000; a multiple of 1,000)
#   make bench-timesheets                       # records the block in BENCHMARKS.md
#   make bench-timesheets ARGS=10000            # smoke run; BENCHMARKS.md untouched
#   BENCH_RECORD=1 make bench-timesheets ARGS=10000   # record anyway
#
# Data (bench only, crates/test-support/sql/bench/timesheets-*.sql, straight into the tables
# with psql): one facility, 1,000 synthetic nurses, ROWS completed 8-hour shifts (one a day
# per nurse) with their bookings and approved timesheets; a scheduler of the facility made
# with `shiftwire admin create-user`, signed in over the API.
#
# Measured: the export's time to first byte and to last byte (curl), its size and rows; the
# server's resident memory sampled every 10 ms during the export, its peak (VmHWM, reset just
# before the export through /proc/PID/clear_refs) against its resident memory just before;
# the server's CPU seconds; the load average and what every other process used (PostgreSQL
# and curl included), since the machine may be shared. Results: target/bench/timesheets.md, the server's log in
# target/bench/timesheets-server.log.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

LOG_TAG=bench-timesheets
# log, die, fresh_db, start_server, wait_ready, stop_server, and BENCH_SQL (the SQL files).
source scripts/lib.sh

ROWS=${1:-100000}
[[ $ROWS =~ ^[0-9]+$ ]] && ((ROWS >= 1000 && ROWS % 1000 == 0)) || die "ROWS must be a multiple of 1,000"
RECORD=${BENCH_RECORD:-0}
(($# == 0)) && RECORD=1
NURSES=1000
BENCH_DB=shiftwire_bench_timesheets
BIND=127.0.0.1:18081
SCHEDULER_EMAIL=bench-payroll-scheduler@shiftwire.example
# A throwaway account in a throwaway local database; not a secret.
SCHEDULER_PASSWORD=bench-only-password-0001
TARGET=${CARGO_TARGET_DIR:-target}
OUT=target/bench
START_MARK="<!-- bench:timesheets:start -->"
END_MARK="<!-- bench:timesheets:end -->"
mkdir -p "$OUT"

fresh_db "$BENCH_DB" # sets DB_URL
BENCH_URL=$DB_URL
psql_bench() { psql -X "$BENCH_URL" -At -q -v ON_ERROR_STOP=1 "$@"; }

log "building the release server"
SQLX_OFFLINE=true cargo build --release --bin shiftwire
# A private copy: another build sharing the target directory cannot replace it mid-run.
SERVER_BIN=$OUT/shiftwire-timesheets-bench
cp "$TARGET/release/shiftwire" "$SERVER_BIN"

DATABASE_URL="$BENCH_URL" RUST_LOG=warn "$SERVER_BIN" migrate >&2
FACILITY=$(psql_bench -f "$BENCH_SQL/timesheets-facility.sql" | head -n1)
DATABASE_URL="$BENCH_URL" RUST_LOG=warn SHIFTWIRE_PASSWORD="$SCHEDULER_PASSWORD" \
  "$SERVER_BIN" admin create-user --email "$SCHEDULER_EMAIL" --role scheduler --facility "$FACILITY" >&2
OWNER=$(psql_bench -c "SELECT id FROM users WHERE email = '$SCHEDULER_EMAIL'")
log "seeding $ROWS approved timesheets of $NURSES nurses"
SEED_T0=$(date +%s.%N)
SEEDED=$(psql_bench -v rows="$ROWS" -v nurses="$NURSES" -v facility="$FACILITY" -v owner="$OWNER" \
  -f "$BENCH_SQL/timesheets-approved.sql" | tail -n1)
SEED_SECS=$(awk -v a="$SEED_T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
[[ $SEEDED == "$ROWS" ]] || die "seeded $SEEDED approved timesheets, not $ROWS"

SERVER_LOG=$OUT/timesheets-server.log
trap stop_server EXIT
log "starting the server on $BIND (log: $SERVER_LOG)"
start_server "$SERVER_BIN" "$SERVER_LOG" DATABASE_URL="$BENCH_URL" BIND_ADDR="$BIND" \
  RUST_LOG=warn LOG_FORMAT=json METRICS_ADDR=off LOGIN_ATTEMPTS_PER_IP_PER_MINUTE=1000
wait_ready "http://$BIND" 30 0.05
TOKEN=$(curl --noproxy '*' -fsS "http://$BIND/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"$SCHEDULER_EMAIL\",\"password\":\"$SCHEDULER_PASSWORD\"}" | jq -r .access_token)
[[ -n $TOKEN && $TOKEN != null ]] || die "the scheduler could not sign in"

status_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$SERVER_PID/status"; }
cpu_ticks() { sed 's/^.*) //' "/proc/$SERVER_PID/stat" | awk '{ print $12 + $13 }'; }
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
export_csv() { # export_csv FROM TO FILE: prints "first-byte-s total-s bytes http-code"
  curl --noproxy '*' -sS -o "$3" -H "authorization: Bearer $TOKEN" \
    -w '%{time_starttransfer} %{time_total} %{size_download} %{http_code}\n' \
    "http://$BIND/v1/facilities/$FACILITY/timesheets.csv?from=$1&to=$2"
}

# Warm-up: one day's rows (the server's pools, caches and allocator reach their working size).
read -r _ _ _ code < <(export_csv 2026-01-01T00:00:00Z 2026-01-02T00:00:00Z "$OUT/timesheets-warmup.csv")
[[ $code == 200 ]] || die "the warm-up export answered $code"

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
RSS_BEFORE=$(status_kib VmRSS)
echo 5 >"/proc/$SERVER_PID/clear_refs" # resets VmHWM to the current resident size
SAMPLES=$OUT/timesheets-rss.txt
(while kill -0 "$SERVER_PID" 2>/dev/null; do status_kib VmRSS; sleep 0.01; done) >"$SAMPLES" &
SAMPLER=$!
CPU0=$(cpu_ticks) BUSY0=$(busy_ticks) WALL0=$(date +%s.%N)
read -r FIRST_BYTE TOTAL BYTES code < <(export_csv 2020-01-01T00:00:00Z 2100-01-01T00:00:00Z "$OUT/timesheets.csv")
CPU1=$(cpu_ticks) BUSY1=$(busy_ticks) WALL1=$(date +%s.%N)
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
HWM=$(status_kib VmHWM)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
[[ $code == 200 ]] || die "the export answered $code"
LINES=$(wc -l <"$OUT/timesheets.csv")
((LINES == ROWS + 1)) || die "the export has $LINES lines, not a header and $ROWS rows"
SAMPLED_MAX=$(sort -n "$SAMPLES" | tail -n1)
TICK=$(getconf CLK_TCK)
read -r SERVER_CPU OTHER_SHARE < <(awk -v t="$TICK" -v n="$(nproc)" -v w0="$WALL0" -v w1="$WALL1" \
  -v server=$((CPU1 - CPU0)) -v busy=$((BUSY1 - BUSY0)) 'BEGIN {
    wall = w1 - w0; other = busy / t - server / t; if (other < 0) other = 0
    printf "%.2f %.0f\n", server / t, 100 * other / (wall * n) }')
SERVER_ERRORS=$(grep -c '"level":"ERROR"' "$SERVER_LOG" || true)
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
GROWTH_KIB=$((HWM - RSS_BEFORE))
log "$ROWS rows, $BYTES bytes: first byte $FIRST_BYTE s, last $TOTAL s; RSS $(mib "$RSS_BEFORE") MiB before, peak $(mib "$HWM") MiB"

{
  echo "| measure | result |"
  echo "|---|---:|"
  echo "| approved timesheets exported (rows after the header) | $ROWS |"
  echo "| CSV size | $(mib $((BYTES / 1024))) MiB ($BYTES bytes) |"
  echo "| time to first byte | $(awk -v s="$FIRST_BYTE" 'BEGIN { printf "%.0f", s * 1000 }') ms |"
  echo "| time to last byte | **$(awk -v s="$TOTAL" 'BEGIN { printf "%.2f", s }') s** ($(awk -v n="$ROWS" -v s="$TOTAL" 'BEGIN { printf "%.0f", n / s }') rows/s) |"
  echo "| server resident memory just before the export | $(mib "$RSS_BEFORE") MiB |"
  echo "| server peak resident memory during the export (VmHWM; highest 10 ms sample) | **$(mib "$HWM") MiB** ($(mib "$SAMPLED_MAX") MiB) |"
  echo "| peak growth during the export, against the CSV's size | $(mib "$GROWTH_KIB") MiB vs $(mib $((BYTES / 1024))) MiB |"
  echo "| server CPU during the export | $SERVER_CPU s |"
} >"$OUT/timesheets.md"
cat "$OUT/timesheets.md" >&2

if ((!RECORD)); then
  log "not recording in BENCHMARKS.md (smoke run; BENCH_RECORD=1 records anyway); results in $OUT/timesheets.md"
  exit 0
fi

bench_provenance
COMMAND="make bench-timesheets"
(($#)) && COMMAND="make bench-timesheets ARGS=$*"
BLOCK=$(mktemp)
NEW=$(mktemp)
trap 'stop_server; rm -f "$BLOCK" "$NEW"' EXIT
{
  echo "$START_MARK"
  echo "## Payroll export: \`timesheets.csv\` of $(sed -E ':a; s/([0-9])([0-9]{3})($|,)/\1,\2\3/; ta' <<<"$ROWS") approved timesheets"
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- Commit: \`$COMMIT\`"
  echo "- Machine: $(nproc) CPUs (${CPU:-unknown CPU}), ${MEM_GIB} GiB RAM, Linux $(uname -r); load average (1/5/15 min) $LOAD_BEFORE before the export, $LOAD_AFTER after; every process but the server (PostgreSQL serving the export and curl receiving it included) used ${OTHER_SHARE}% of the machine during the export"
  echo "- Command: \`$COMMAND\`, which ran \`curl\` once against \`shiftwire serve\` (release build, \`RUST_LOG=warn\`, default database pool) on $BIND, after a one-day warm-up export"
  echo "- Data: psql (\`$BENCH_SQL/timesheets-approved.sql\`) wrote $ROWS completed shifts, bookings and approved timesheets of $NURSES nurses at one facility in $SEED_SECS s, before the server started"
  echo "- Server log during the run: $SERVER_ERRORS errors"
  echo
  cat "$OUT/timesheets.md"
  echo "$END_MARK"
} >"$BLOCK"
if grep -qxF "$START_MARK" BENCHMARKS.md && grep -qxF "$END_MARK" BENCHMARKS.md; then
  replace_block "$START_MARK" "$END_MARK" "$BLOCK" >"$NEW"
  cat "$NEW" >BENCHMARKS.md
else
  { echo; cat "$BLOCK"; } >>BENCHMARKS.md
fi
log "recorded in BENCHMARKS.md"
