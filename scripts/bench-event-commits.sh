#!/usr/bin/env bash
# The ceiling on event-writing commits (`make bench-event-commits`): a fresh
# shiftwire_bench_events database, the release load generator writing through the outbox
# with 1, 8 and 64 writers, and the same transactions without its ordering lock.
set -euo pipefail
cd "$(dirname "$0")/.."
DBURL=$(bash scripts/ensure-postgres.sh | tail -n1 | sed 's/^DATABASE_URL=//')
BENCH_DB=shiftwire_bench_events
ADMIN_URL="${DBURL%/*}/postgres"
psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $BENCH_DB" -c "CREATE DATABASE $BENCH_DB"
SQLX_OFFLINE=true cargo build --release -q -p shiftwire-loadgen
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), PostgreSQL $(psql -Atq "$ADMIN_URL" -c 'SHOW server_version'), max_connections $(psql -Atq "$ADMIN_URL" -c 'SHOW max_connections'), synchronous_commit $(psql -Atq "$ADMIN_URL" -c 'SHOW synchronous_commit')"
echo "command: make bench-event-commits $*"
DATABASE_URL="${DBURL%/*}/$BENCH_DB" "${CARGO_TARGET_DIR:-target}/release/shiftwire-loadgen" event-commits "$@"
psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $BENCH_DB"
