#!/usr/bin/env bash
# Benchmarks that drive a room's code straight against the database, with no server in
# between (`make bench-no-shows`, `make bench-event-commits`): a fresh database on the local
# PostgreSQL (scripts/lib.sh's fresh_db), the release load generator's SCENARIO with ARGS,
# the machine printed first; the database is dropped afterwards.
#
# Usage: scripts/bench-direct.sh SCENARIO DATABASE [ARGS...]
#   scripts/bench-direct.sh no-shows shiftwire_bench_noshows --bookings 5000
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

LOG_TAG=bench-direct
# log, die, fresh_db.
source scripts/lib.sh

(($# >= 2)) || die "usage: scripts/bench-direct.sh SCENARIO DATABASE [ARGS...]"
SCENARIO=$1
BENCH_DB=$2
shift 2
fresh_db "$BENCH_DB"
SQLX_OFFLINE=true cargo build --release -q -p shiftwire-loadgen
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), PostgreSQL $(psql -Atq "$ADMIN_URL" -c 'SHOW server_version'), max_connections $(psql -Atq "$ADMIN_URL" -c 'SHOW max_connections'), synchronous_commit $(psql -Atq "$ADMIN_URL" -c 'SHOW synchronous_commit')"
echo "command: make bench-$SCENARIO $*"
DATABASE_URL="$DB_URL" "${CARGO_TARGET_DIR:-target}/release/shiftwire-loadgen" "$SCENARIO" "$@"
psql -X "$ADMIN_URL" -q -v ON_ERROR_STOP=1 -v db="$BENCH_DB" \
  <<<"SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'db') \\gexec"
