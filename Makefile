# Shiftwire developer tasks. Every recipe runs as one bash script with -euo pipefail.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.PHONY: up test e2e bench-portal openapi sqlx-prepare lint bench bench-auth bench-verification bench-recheck bench-marketplace bench-realtime bench-scale bench-push bench-no-shows bench-timesheets bench-event-commits deny deny-advisories chaos fuzz

BIND_ADDR ?= 127.0.0.1:8080
BIN := $(or $(CARGO_TARGET_DIR),target)/debug/shiftwire
# Make sure PostgreSQL + PostGIS is up (installing it if needed); leaves its URL in $$DBURL.
ENSURE_DB = DBURL=$$(bash scripts/ensure-postgres.sh | tail -n1 | sed 's/^DATABASE_URL=//'); test -n "$$DBURL"

# up: build, migrate, seed demo data and serve on $(BIND_ADDR) (override: make up BIND_ADDR=...).
up:
	$(ENSURE_DB)
	SQLX_OFFLINE=true cargo build --bin shiftwire
	DATABASE_URL="$$DBURL" $(BIN) migrate
	DATABASE_URL="$$DBURL" $(BIN) seed
	echo "Shiftwire is starting on http://$(BIND_ADDR)"
	exec env DATABASE_URL="$$DBURL" BIND_ADDR="$(BIND_ADDR)" $(BIN) serve

# test: whole workspace with cargo-nextest (installed if missing, else cargo test); #[sqlx::test] uses DATABASE_URL.
# Then contract fuzzing of the OpenAPI document against a real server (scripts/contract-test.sh,
# Schemathesis from PyPI; about 1.5 minutes; CONTRACT_EXAMPLES=5 for a quicker run), and last
# the browser tests of the portal and console (make e2e).
test:
	$(ENSURE_DB)
	if cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked; then
	  DATABASE_URL="$$DBURL" SQLX_OFFLINE=true cargo nextest run --workspace --no-fail-fast
	else
	  echo "cargo-nextest unavailable; falling back to cargo test" >&2
	  DATABASE_URL="$$DBURL" SQLX_OFFLINE=true cargo test --workspace --no-fail-fast
	fi
	DATABASE_URL="$$DBURL" bash scripts/contract-test.sh
	DATABASE_URL="$$DBURL" bash scripts/e2e.sh

# e2e: browser tests of the portal and console (Playwright on Debian's Chromium, both
# installed if missing) against a real server with demo data on a fresh shiftwire_e2e
# database; see e2e/README.md. Playwright's flags pass through: make e2e ARGS='-g "live board"'
e2e:
	bash scripts/e2e.sh $(ARGS)

# bench-portal: board render time with 200 shifts (Server-Timing and round trip) and claim ->
# board in headless Chromium, 100 claims (release build, fresh shiftwire_e2e database);
# prints a Markdown block and writes target/bench/portal.md. Not recorded in BENCHMARKS.md.
# Quick smoke run: make bench-portal ARGS="--renders 30 --claims 10"
bench-portal:
	bash scripts/e2e.sh bench $(ARGS)

# openapi: regenerate api-spec/openapi.yaml from the code.
openapi:
	trap 'rm -f api-spec/openapi.yaml.tmp' EXIT
	SQLX_OFFLINE=true cargo run --quiet --bin shiftwire -- openapi > api-spec/openapi.yaml.tmp
	mv api-spec/openapi.yaml.tmp api-spec/openapi.yaml

# sqlx-prepare: migrate the dev DB (with sqlx-cli, so no compile is needed) and regenerate .sqlx/.
sqlx-prepare:
	$(ENSURE_DB)
	cargo sqlx --version >/dev/null 2>&1 || cargo install sqlx-cli --version '^0.8' --locked --no-default-features --features rustls,postgres
	DATABASE_URL="$$DBURL" cargo sqlx migrate run --source migrations
	DATABASE_URL="$$DBURL" SQLX_OFFLINE=false cargo sqlx prepare --workspace -- --all-targets

# lint: rustfmt check and clippy with warnings as errors.
lint:
	cargo fmt --all -- --check
	SQLX_OFFLINE=true cargo clippy --workspace --all-targets -- -D warnings

# bench: the benchmarks in sequence, sign-in, credential verification, marketplace,
# real-time offers, real-time at scale (release server + fresh shiftwire_bench DB, loopback
# only; realtime and scale need a NATS server on 127.0.0.1:4222, scale up to 20,000 open
# files), then event-writing commits (straight against the database); 9–10 minutes in all
# after the release build (542 s and 607 s on two 2-core machines on 2026-11-30), half a
# minute to a minute of it seeding 1,000,000 shifts. Records every one in BENCHMARKS.md.
# Their flags differ, so a smoke run takes AUTH_ARGS / VERIFICATION_ARGS / MARKETPLACE_ARGS / REALTIME_ARGS /
# SCALE_ARGS / EVENT_COMMITS_ARGS (not recorded; BENCH_CONNS / BENCH_FANOUT make the scale
# run smaller):
#   BENCH_CONNS=1000 BENCH_FANOUT=10,100 make bench AUTH_ARGS="--duration-secs 3" VERIFICATION_ARGS="--submissions 100" MARKETPLACE_ARGS="--phase-secs 3" REALTIME_ARGS="--latency-posts 30 --fanout-rounds 3" SCALE_ARGS="--latency-posts 20 --fanout-rounds 2 --sustained-secs 3 --oracle-posts 40 --storm-claimants 100" EVENT_COMMITS_ARGS="--seconds 1 --writers 1,8"
bench:
	if [[ -n "$(ARGS)" ]]; then
	  echo 'make bench: ARGS are flags of one scenario; use make bench-auth ARGS="...", make bench-verification ARGS="...", make bench-marketplace ARGS="...", make bench-realtime ARGS="..." or make bench-scale ARGS="...", or make bench AUTH_ARGS="..." VERIFICATION_ARGS="..." MARKETPLACE_ARGS="..." REALTIME_ARGS="..." SCALE_ARGS="..."' >&2
	  exit 2
	fi
	bash scripts/bench.sh auth $(AUTH_ARGS)
	bash scripts/bench.sh verification $(VERIFICATION_ARGS)
	bash scripts/bench.sh recheck
	bash scripts/bench.sh marketplace $(MARKETPLACE_ARGS)
	bash scripts/bench.sh realtime $(REALTIME_ARGS)
	bash scripts/bench.sh scale $(SCALE_ARGS)
	$(if $(EVENT_COMMITS_ARGS),,BENCH_RECORD=1) bash scripts/bench-direct.sh event-commits shiftwire_bench_events $(or $(EVENT_COMMITS_ARGS),--seconds 2)

# bench-auth: sign-in benchmark only. Quick smoke run, not recorded: make bench-auth ARGS="--duration-secs 3"
bench-auth:
	bash scripts/bench.sh auth $(ARGS)

# bench-verification: credential verification benchmark only (100,000-row registry table).
# Quick smoke run, not recorded: make bench-verification ARGS="--submissions 100"
bench-verification:
	bash scripts/bench.sh verification $(ARGS)

# bench-recheck: registry re-check throughput over 100,000 approved licences (records/s, and
# the server's and PostgreSQL's CPU while it ran).
bench-recheck:
	bash scripts/bench.sh recheck $(ARGS)

# bench-marketplace: nearby search over 1,000,000 seeded open shifts at 10,000 facilities, and
# claim storms of 1,000 nurses. Quick smoke run, not recorded:
#   BENCH_SHIFTS=100000 make bench-marketplace ARGS="--phase-secs 3 --storms 1"
bench-marketplace:
	bash scripts/bench.sh marketplace $(ARGS)

# bench-realtime: the small case of bench-scale (`shiftwire-loadgen scale --preset realtime`):
# POST to offer for one eligible nurse while 1,000 others are connected, fan-out of 20 shifts
# to 1,000 eligible nurses, and NATS core fanning the same bytes out to 1,000 subscribers as the
# baseline (needs NATS on 127.0.0.1:4222). Takes the scale flags.
# Quick smoke run, not recorded: make bench-realtime ARGS="--latency-posts 30 --fanout-rounds 3"
bench-realtime:
	bash scripts/bench.sh realtime $(ARGS)

# bench-scale: real-time offers with 19,000 live WebSocket connections to one server, held by
# worker processes on loopback source addresses 127.0.0.2-9: server memory per connection and
# connect rate, POST to offer for one eligible nurse, fan-out to 100 / 1,000 / 10,000 with NATS
# core as the baseline, 50 shifts/s for 60 s (latency, server CPU), a delivery oracle over every
# shift posted (missed / wrong / duplicate, 10 % of clients reconnecting with resume), and a
# claim storm of 1,000. About 4 minutes. Quick smoke run, not recorded:
#   BENCH_CONNS=1000 BENCH_FANOUT=10,100 make bench-scale ARGS="--latency-posts 20 --fanout-rounds 2 --sustained-secs 3 --oracle-posts 40 --storm-claimants 100"
bench-scale:
	bash scripts/bench.sh scale $(ARGS)

# bench-push: pushes to nurses whose app is closed: POST of a shift -> last push handed to a
# webhook stand-in, 10,000 eligible offline nurses with a device among 100,000 verified (20
# shifts one at a time, then 5 back to back), the server's time to find them, and the same
# 10,000 webhook calls from the load generator as the baseline. About 2 minutes after the
# release build. Smoke run: BENCH_PUSH_NURSES=20000 BENCH_PUSH_GROUP=2000 make bench-push ARGS="--shifts 3"
bench-push:
	bash scripts/bench.sh push $(ARGS)

# bench-no-shows: the no-show detector over 100,000 booked bookings: one sweep while nothing
# is due (every node runs one every 30 s) against reading every booking, then deciding all of
# them at once (500 per sweep, each re-opening its shift). Release load generator, fresh
# shiftwire_bench_noshows DB, about a minute. Smoke run: make bench-no-shows ARGS="--bookings 5000"
bench-no-shows:
	bash scripts/bench-direct.sh no-shows shiftwire_bench_noshows $(ARGS)

# bench-timesheets: the payroll export (`timesheets.csv`) of 100,000 approved timesheets: time
# to first and last byte, and the server's peak memory against the file's size (it streams).
# Release build, fresh shiftwire_bench_timesheets DB, server on 127.0.0.1:18081. Records its
# block in BENCHMARKS.md. Smoke run, not recorded: make bench-timesheets ARGS=10000
bench-timesheets:
	bash scripts/bench-timesheets.sh $(ARGS)

# bench-event-commits: event-writing commits: 1, 8 and 64 writers each recording one
# event per transaction through the outbox (writers take ids freely, its reader fills
# holes), through the ordering lock it replaced (taken at the insert, and at commit), and
# through two other lock-free orders (a relay assigning positions; a reader below the
# snapshot's xmin), with their time to readable in order, and the same transactions into
# a plain table; alone, beside a writer of 500-row batches (the offer log), and beside a
# write held open 600 ms. About 3 minutes after the release build; recorded in BENCHMARKS.md.
# Smoke run, not recorded: make bench-event-commits ARGS="--seconds 1 --writers 1,8"
bench-event-commits:
	bash scripts/bench-direct.sh event-commits shiftwire_bench_events $(ARGS)

# deny: the supply-chain policy in deny.toml (licences, banned crates, sources), offline.
deny:
	cargo deny --version >/dev/null 2>&1 || cargo install cargo-deny --locked
	# The policy reads every crate of every target platform (cargo metadata); a build
	# fetches only this platform's, so fetch the rest first (crates.io, not the advisories).
	cargo fetch --locked
	cargo deny --offline check licenses bans sources

# deny-advisories: RustSec advisories; needs the network to fetch the advisory database.
deny-advisories:
	cargo deny --version >/dev/null 2>&1 || cargo install cargo-deny --locked
	cargo deny check advisories

# chaos: fault scenarios (stops the local PostgreSQL for a few seconds: not while tests run).
chaos:
	bash scripts/chaos-postgres.sh

# fuzz: the cargo-fuzz targets in fuzz/ (WebSocket messages, phone numbers, document sniffing,
# JSON bodies to problem+json), each for FUZZ_SECONDS (default 60) on a scratch copy of its
# committed corpus; prints seconds, executions and crashes per target, writes them to
# target/fuzz-summary.md and fails on any crash. Not part of `make test`. Sanitizer none, so
# it builds on stable without RUSTC_BOOTSTRAP (the code is safe Rust; ASan, a -Z flag, would
# only cut the executions about 3x; FUZZ_SANITIZER=address to use it): see fuzz/README.md.
fuzz:
	cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked
	FUZZ_SECONDS="$(or $(FUZZ_SECONDS),60)" bash fuzz/run.sh
