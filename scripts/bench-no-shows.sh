#!/usr/bin/env bash
# The no-show detector's cost over 100,000 booked bookings (`make bench-no-shows`): a fresh
# shiftwire_bench_noshows database, the release load generator driving the detector
# directly (no server: the sweep is a database transaction). Pass a smaller count for a
# smoke run: `make bench-no-shows ARGS="--bookings 5000"`.
set -euo pipefail
cd "$(dirname "$0")/.."
DBURL=$(bash scripts/ensure-postgres.sh | tail -n1 | sed 's/^DATABASE_URL=//')
BENCH_DB=shiftwire_bench_noshows
ADMIN_URL="${DBURL%/*}/postgres"
psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $BENCH_DB" -c "CREATE DATABASE $BENCH_DB"
SQLX_OFFLINE=true cargo build --release -q -p shiftwire-loadgen
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), PostgreSQL $(psql -Atq "$ADMIN_URL" -c 'SHOW server_version')"
echo "command: make bench-no-shows $*"
DATABASE_URL="${DBURL%/*}/$BENCH_DB" "${CARGO_TARGET_DIR:-target}/release/shiftwire-loadgen" no-shows "$@"
psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $BENCH_DB"
