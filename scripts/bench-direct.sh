#!/usr/bin/env bash
# Benchmarks that drive a room's code straight against the database, with no server in
# between (`make bench-no-shows`, `make bench-event-commits`): a fresh database on the local
# PostgreSQL (scripts/lib.sh's fresh_db), the release load generator's SCENARIO with ARGS,
# the machine printed first; the database is dropped afterwards. Event commits are
# recorded in BENCHMARKS.md (the block between `<!-- bench:event-commits:start -->` and
# `<!-- bench:event-commits:end -->`) when run without flags, or with BENCH_RECORD=1 (as
# `make bench` does for its shorter canonical run); any other run only prints its table.
#
# Usage: scripts/bench-direct.sh SCENARIO DATABASE [ARGS...]
#   scripts/bench-direct.sh no-shows shiftwire_bench_noshows --bookings 5000
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

LOG_TAG=bench-direct
# log, die, fresh_db, bench_provenance, record_setting, replace_block.
source scripts/lib.sh

(($# >= 2)) || die "usage: scripts/bench-direct.sh SCENARIO DATABASE [ARGS...]"
SCENARIO=$1
BENCH_DB=$2
shift 2
fresh_db "$BENCH_DB"
if (($#)); then record_setting 0; else record_setting 1; fi
[[ $SCENARIO == event-commits ]] || RECORD=0
SQLX_OFFLINE=true cargo build --release -q -p shiftwire-loadgen
bench_provenance
MACHINE="$(nproc) CPUs (${CPU:-unknown CPU}), ${MEM_GIB} GiB RAM, Linux $(uname -r), PostgreSQL $(psql -Atq "$ADMIN_URL" -c 'SHOW server_version') on the same machine (max_connections $(psql -Atq "$ADMIN_URL" -c 'SHOW max_connections'), synchronous_commit $(psql -Atq "$ADMIN_URL" -c 'SHOW synchronous_commit'))"
COMMAND="make bench-$SCENARIO"
(($#)) && COMMAND="make bench-$SCENARIO ARGS=\"$*\""
echo "machine: $MACHINE"
echo "command: $COMMAND"
OUT=target/bench
mkdir -p "$OUT"
STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
DATABASE_URL="$DB_URL" "${CARGO_TARGET_DIR:-target}/release/shiftwire-loadgen" "$SCENARIO" "$@" | tee "$OUT/$SCENARIO.md"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
psql -X "$ADMIN_URL" -q -v ON_ERROR_STOP=1 -v db="$BENCH_DB" \
  <<<"SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'db') \\gexec"

if ((RECORD)); then
  START_MARK="<!-- bench:$SCENARIO:start -->"
  END_MARK="<!-- bench:$SCENARIO:end -->"
  grep -qxF "$START_MARK" BENCHMARKS.md && grep -qxF "$END_MARK" BENCHMARKS.md \
    || die "BENCHMARKS.md has no $START_MARK ... $END_MARK block to record in"
  BLOCK=$(mktemp)
  NEW=$(mktemp)
  trap 'rm -f "$BLOCK" "$NEW"' EXIT
  {
    echo "$START_MARK"
    echo "## Event order: the outbox against the ordering lock it replaced and other orders"
    echo
    echo "- Date: $STARTED"
    echo "- Commit: \`$COMMIT\` (the bench's code and \`shiftwire_outbox::record\` and \`read_after\`; no server is involved)"
    echo "- Machine: $MACHINE; load average (1/5/15 min) $LOAD_BEFORE before the run, $LOAD_AFTER after. The load generator's writers run on the same cores as PostgreSQL."
    echo "- Command: \`$COMMAND\` (\`scripts/bench-direct.sh\`: a fresh \`$BENCH_DB\` database, the release load generator's \`$SCENARIO\` scenario; \`make bench\` runs it last with \`--seconds 2\`)"
    echo
    cat "$OUT/$SCENARIO.md"
    echo "$END_MARK"
  } >"$BLOCK"
  replace_block "$START_MARK" "$END_MARK" "$BLOCK" >"$NEW"
  cat "$NEW" >BENCHMARKS.md
  log "recorded the results in BENCHMARKS.md"
fi
