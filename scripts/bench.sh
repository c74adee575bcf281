#!/usr/bin/env bash
# Benchmarks (`make bench`): a release build of the real server on 127.0.0.1:18080, backed by
# a fresh PostgreSQL database `shiftwire_bench`, loaded by `shiftwire-loadgen <scenario>` from
# the same machine. Everything stays on the loopback interface, every phase is bounded, and
# the run stops by itself.
#
# Usage: scripts/bench.sh auth|verification|recheck|marketplace|realtime|scale [extra flags of that scenario's load generator]
#   make bench                                            # all four, in sequence; records all
#   make bench-auth                                       # sign-in only; records it
#   make bench-verification                               # credential verification only
#   make bench-marketplace                                # nearby search and claim storms only
#   make bench-realtime                                   # WebSocket offers and fan-out to 1,000 only
#   make bench-scale                                      # 19,000 WebSockets: memory, latency, fan-out, oracle
#   make bench-auth ARGS="--duration-secs 3"              # smoke run; BENCHMARKS.md untouched
#   make bench-verification ARGS="--submissions 100"      # smoke run; BENCHMARKS.md untouched
#   BENCH_SHIFTS=100000 make bench-marketplace ARGS="--phase-secs 3 --storms 1"  # smoke run
#   make bench-realtime ARGS="--latency-posts 30 --fanout-rounds 3"  # smoke run
#   BENCH_CONNS=1000 BENCH_FANOUT=10,100 make bench-scale ARGS="--latency-posts 20 --fanout-rounds 2 --sustained-secs 3 --oracle-posts 40 --storm-claimants 100"  # smoke
#   BENCH_RECORD=1 make bench-auth ARGS="--logins 20"     # record a run with custom flags anyway
#   BENCH_SERVER_BIN=/path/to/shiftwire make bench-marketplace  # an earlier build of the server
#                                                         # against this load generator (a
#                                                         # "before" figure); not recorded
#
# Scenarios:
#   auth          /healthz latency alone and during password logins; OTP verify throughput.
#   verification  time from a licence submission until the automatic registry check's
#                 decision is visible, against a generated 100,000-row registry table
#                 (LICENSE_REGISTRY_CSV=target/bench/registry.csv); also times how long the
#                 server takes to start with that table and with the 14-row demo table.
#   marketplace   nearby search (`GET /v1/shifts/nearby`) over 1,000,000 open shifts at 10,000
#                 facilities, by 2,000 synthetic nurses (`shiftwire-loadgen seed`, whose
#                 access tokens go to target/bench/tokens.tsv), against `/healthz` and
#                 `/v1/me` as the baseline; then 5 claim storms, 1,000 nurses claiming one
#                 shift at once. Bench-only data set-up with psql (the SQL files in
#                 crates/test-support/sql/bench/): the storm shifts are open RN shifts
#                 without required certifications at one facility, none overlapping another,
#                 and the 1,000 storm nurses (verified RNs) get that facility as their home
#                 (in nurse_profiles), so each of them is eligible for each storm shift. The
#                 bench database gets a statement_timeout (STATEMENT_TIMEOUT) so that no
#                 query outlives the run. BENCH_SHIFTS changes the number of shifts (and of
#                 facilities, one per 100 shifts) for smoke runs, which are not recorded
#                 unless BENCH_RECORD=1.
#   realtime      the scale scenario's small case (`shiftwire-loadgen scale --preset realtime`,
#                 the same set-up with 1,001 connections and one fan-out group of 1,000): POST
#                 → offer for the target nurse among 1,001 connected (300 posts, one every
#                 100 ms), fan-out of 20 shifts to the 1,000 nurses of the group with NATS core
#                 as the baseline, the ping → pong floor, and the oracle over every shift
#                 posted; no sustained load, reconnects or storm. Afterwards psql counts the
#                 server's offer log of every shift posted at a group's facility.
#   scale         real-time offers at scale: $BENCH_CONNS (default 19,000) live WebSocket
#                 connections to the one server process, held by `shiftwire-loadgen worker`
#                 child processes bound to loopback source addresses 127.0.0.2, 127.0.0.3, …;
#                 server memory per idle connection and connect rate, POST → offer latency for
#                 one eligible nurse, fan-out to groups of $BENCH_FANOUT (default
#                 100,1000,10000) nurses with NATS core fanning the same bytes out to as many
#                 subscribers as the baseline, 50 random shifts a second for 60 s (latency,
#                 server CPU), a delivery oracle over every shift posted (missed / wrong /
#                 duplicate, with 10 % of the clients reconnecting with `resume`), and a claim
#                 storm of 1,000 nurses. Data: `shiftwire-loadgen seed` with 100,000 shifts at
#                 1,000 facilities and 1.25 × $BENCH_CONNS nurses. Bench-only set-up with psql
#                 (crates/test-support/sql/bench/): remote facilities (beyond everyone's
#                 reach: more than 100 km from the seeded area and from one another) for a
#                 target nurse and one group per fan-out size, verified RNs homed there (in
#                 nurse_profiles), and a scheduler of every facility; then psql exports the
#                 world (`crates/test-support/sql/oracle-world.sql`) for the oracle. The
#                 open-files limit (`ulimit -n`) is raised to the hard limit for the server and
#                 the load generator and must allow the connections plus 600.
#
# The bench-only SQL (crates/test-support/sql/bench/*.sql, one file per set-up step) writes
# straight into the tables of the fresh bench database: never run it against real data.
#
# Results: target/bench/<scenario>.json, target/bench/<scenario>.md, the server's log in
# target/bench/<scenario>-server.log, and (when recorded) the block between the
# `<!-- bench:<scenario>:start -->` / `<!-- bench:<scenario>:end -->` markers in BENCHMARKS.md.
# Text outside those markers is kept as it is.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

LOG_TAG=bench
# log, die, fresh_db, start_server, wait_ready, stop_server, and BENCH_SQL (the SQL files).
source scripts/lib.sh

SCENARIO=${1:-}
case $SCENARIO in
  auth | verification | recheck | marketplace | realtime | scale | push) shift ;;
  *) die "usage: scripts/bench.sh auth|verification|recheck|marketplace|realtime|scale|push [extra shiftwire-loadgen flags]" ;;
esac

BENCH_DB=shiftwire_bench
BIND=127.0.0.1:18080
WEBHOOK=127.0.0.1:18099
ADMIN_EMAIL=bench-admin@shiftwire.example
VERIFIER_EMAIL=bench-verifier@shiftwire.example
# A throwaway account in a throwaway local database; not a secret.
ADMIN_PASSWORD=bench-only-password-0001
# The server serves /metrics on its API port with this token (no scenario reads them now;
# kept so the server runs as it did for the recorded blocks).
METRICS_TOKEN=bench-only-metrics-token-0123456789abcdef
# The verification scenario's registry table: rows, and benchmark nurses with licences in it.
REGISTRY_ROWS=100000
REGISTRY_NURSES=100
DEMO_REGISTRY=registry/demo-licenses.csv
# The recheck scenario: approved licences, all clean matches in their own registry table
# (40 per nurse, so 2,500 nurses with verified identities).
RECHECK_LICENCES=100000
RECHECK_NURSES=$((RECHECK_LICENCES / 40))
STARTUP_ROUNDS=3
# The marketplace, realtime and scale scenarios' data: `shiftwire-loadgen seed` sizes, and the storms.
DEFAULT_SHIFTS=1000000
[[ $SCENARIO == realtime || $SCENARIO == scale ]] && DEFAULT_SHIFTS=100000
SHIFTS=${BENCH_SHIFTS:-$DEFAULT_SHIFTS}
FACILITIES=$((SHIFTS / 100)) # 10,000 for the recorded marketplace run, 1,000 for realtime and scale
NURSES=2000
# The scale scenario: live connections, fan-out group sizes, and nurses seeded (a quarter
# more than connect, so the groups of verified RNs are found among them). The realtime
# preset's sizes are fixed: the target and a group of 1,000.
DEFAULT_CONNS=19000
DEFAULT_FANOUT=100,1000,10000
[[ $SCENARIO == realtime ]] && DEFAULT_CONNS=1001 DEFAULT_FANOUT=1000 BENCH_CONNS="" BENCH_FANOUT=""
CONNS=${BENCH_CONNS:-$DEFAULT_CONNS}
FANOUT=${BENCH_FANOUT:-$DEFAULT_FANOUT}
if [[ $SCENARIO == realtime || $SCENARIO == scale ]]; then
  [[ $CONNS =~ ^[0-9]+$ && $FANOUT =~ ^[0-9]+(,[0-9]+)*$ ]] || die "BENCH_CONNS must be a number and BENCH_FANOUT numbers separated by commas"
  NURSES=$((CONNS + CONNS / 4 > 2000 ? CONNS + CONNS / 4 : 2000))
fi
STORMS=5
CLAIMANTS=1000
# The push scenario: verified nurses in all (each with a device), and the eligible offline
# group at a remote facility that each shift reaches.
PUSH_NURSES=${BENCH_PUSH_NURSES:-100000}
PUSH_GROUP=${BENCH_PUSH_GROUP:-10000}
[[ $SCENARIO == push ]] && DEFAULT_SHIFTS=0 SHIFTS=0 FACILITIES=1 NURSES=$PUSH_NURSES
# The real-time scenarios: the baseline's NATS server, the scheduler.
NATS_PORT=4222
SCHEDULER_EMAIL=bench-realtime-scheduler@shiftwire.example
# No statement may outlive a request by much: a pathological plan is cut off (the server
# answers 500) instead of running on in PostgreSQL after the run ended.
STATEMENT_TIMEOUT=10s
TARGET=${CARGO_TARGET_DIR:-target}
OUT=target/bench
REGISTRY_CSV=$OUT/registry.csv
TOKENS=$OUT/tokens.tsv
STORM_NURSES=$OUT/storm-nurses.txt
STORM_SHIFTS=$OUT/storm-shifts.txt
WORLD_TSV=$OUT/scale-world.tsv
GROUPS_TSV=$OUT/scale-groups.tsv
SERVER_LOG=$OUT/$SCENARIO-server.log
START_MARK="<!-- bench:$SCENARIO:start -->"
END_MARK="<!-- bench:$SCENARIO:end -->"

# Record in BENCHMARKS.md? By default only the canonical run (no extra flags) is recorded,
# so a smoke run never replaces the real numbers.
if (($#)) || [[ -n ${BENCH_SERVER_BIN:-} ]] || ((SHIFTS != DEFAULT_SHIFTS)) || ((PUSH_NURSES != 100000 || PUSH_GROUP != 10000)) || [[ $CONNS != "$DEFAULT_CONNS" || $FANOUT != "$DEFAULT_FANOUT" ]]; then
  record_setting 0
else
  record_setting 1
fi

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "${BIND##*:}" "${WEBHOOK##*:}"; do
  port_busy "$port" && die "port $port on 127.0.0.1 is already in use (an earlier run still going?)"
done
if [[ $SCENARIO == realtime || $SCENARIO == scale ]] && ! port_busy "$NATS_PORT"; then
  die "no NATS server answers on 127.0.0.1:$NATS_PORT (the $SCENARIO scenario's baseline); start one, e.g. nats-server -a 127.0.0.1 -p $NATS_PORT"
fi

# Open files: the server holds a socket per WebSocket connection and the load generator's
# workers one per client, so raise the soft limit to the hard one (20,000 on the bench
# machine) for both; they inherit it from this shell. The scale scenario needs its
# connections plus room for the database pool, HTTP clients and the process itself.
HARD_FILES=$(ulimit -Hn)
if [[ $HARD_FILES == unlimited ]]; then ulimit -n 1048576 2>/dev/null || ulimit -n 65536; else ulimit -n "$HARD_FILES"; fi
OPEN_FILES=$(ulimit -n)
if [[ $SCENARIO == realtime || $SCENARIO == scale ]]; then
  NEED_FILES=$((CONNS + 600))
  [[ $OPEN_FILES == unlimited ]] || ((OPEN_FILES >= NEED_FILES)) ||
    die "open files are limited to $OPEN_FILES (hard limit $HARD_FILES); $CONNS connections need $NEED_FILES: lower BENCH_CONNS or raise the hard limit"
  log "open files: soft limit raised to $OPEN_FILES (hard $HARD_FILES); $NEED_FILES needed for $CONNS connections"
fi

# --- database: same server as the dev database, a fresh `shiftwire_bench` each run ----------
fresh_db "$BENCH_DB" # sets DB_URL, and ADMIN_URL (pg_sample below reads pg_stat_activity there)
BENCH_URL=$DB_URL

# --- build -------------------------------------------------------------------------------
log "building release binaries"
SQLX_OFFLINE=true cargo build --release --bin shiftwire --bin shiftwire-loadgen
SERVER_BIN=${BENCH_SERVER_BIN:-$TARGET/release/shiftwire}
[[ -x $SERVER_BIN ]] || die "no server binary at $SERVER_BIN"
[[ -n ${BENCH_SERVER_BIN:-} ]] && log "server: $SERVER_BIN (not this tree's build)"
LOADGEN_BIN=$TARGET/release/shiftwire-loadgen

DATABASE_URL="$BENCH_URL" RUST_LOG=warn "$SERVER_BIN" migrate >&2
if [[ $SCENARIO == auth ]]; then
  DATABASE_URL="$BENCH_URL" RUST_LOG=warn SHIFTWIRE_PASSWORD="$ADMIN_PASSWORD" \
    "$SERVER_BIN" admin create-user --email "$ADMIN_EMAIL" --role admin >&2
fi
# The verification scenario's nurses have their identities approved by a verifier first.
if [[ $SCENARIO == verification ]]; then
  DATABASE_URL="$BENCH_URL" RUST_LOG=warn SHIFTWIRE_PASSWORD="$ADMIN_PASSWORD" \
    "$SERVER_BIN" admin create-user --email "$VERIFIER_EMAIL" --role verifier >&2
fi

# --- server ------------------------------------------------------------------------------
mkdir -p "$OUT"
SERVER_ENV=(DATABASE_URL="$BENCH_URL" BIND_ADDR="$BIND"
  SMS_PROVIDER=webhook SMS_WEBHOOK_URL="http://$WEBHOOK/sms"
  RUST_LOG=warn LOG_FORMAT=json METRICS_ADDR=off METRICS_TOKEN="$METRICS_TOKEN"
  OTP_SENDS_PER_IP_PER_HOUR=1000000 OTP_VERIFY_ATTEMPTS_PER_IP_PER_MINUTE=1000000
  LOGIN_ATTEMPTS_PER_IP_PER_MINUTE=1000000 REFRESHES_PER_IP_PER_MINUTE=1000000)
trap stop_server EXIT

# start_bench_server LOG [VAR=value...]: starts the server with SERVER_ENV plus the given
# variables and waits for /readyz, polled every 10 ms (the verification scenario reports
# spawn to ready: SERVER_SPAWNED_AT and SERVER_READY_SECS, to 10 ms), for at most 30 s.
start_bench_server() {
  local server_log=$1
  shift
  start_server "$SERVER_BIN" "$server_log" "${SERVER_ENV[@]}" "$@"
  wait_ready "http://$BIND" 30 0.01
}

# The server's "licence registry table loaded" log line (RUST_LOG must enable
# shiftwire_api::state=info): prints "<seconds from spawn> <records>".
registry_loaded() {
  local line ts
  line=$(grep -m1 '"licence registry table loaded"' "$1") || die "no 'licence registry table loaded' line in $1"
  ts=$(sed -E 's/.*"timestamp":"([^"]+)".*/\1/' <<<"$line")
  awk -v a="$SERVER_SPAWNED_AT" -v b="$(date -d "$ts" +%s.%N)" -v n="$(sed -E 's/.*"records":([0-9]+).*/\1/' <<<"$line")" \
    'BEGIN { printf "%.3f %d\n", b - a, n }'
}
rss_mib() { awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$SERVER_PID/status"; }
# psql_bench [psql args]: unaligned, tuples only, quiet, stopping at the first error (psql
# -f would otherwise go on to the next statement and exit 0).
psql_bench() { psql -X "$BENCH_URL" -At -q -v ON_ERROR_STOP=1 "$@"; }
# as_array A B C: a PostgreSQL array literal, {A,B,C}, to pass a list as one psql variable.
as_array() { local IFS=,; echo "{$*}"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

case $SCENARIO in
  auth)
    log "starting the server on $BIND (log: $SERVER_LOG)"
    start_bench_server "$SERVER_LOG"
    LOADGEN=("$LOADGEN_BIN" auth --base-url "http://$BIND" --email "$ADMIN_EMAIL")
    ;;
  verification)
    log "generating the registry table: $REGISTRY_ROWS rows, licences of $REGISTRY_NURSES benchmark nurses"
    "$LOADGEN_BIN" gen-registry --rows "$REGISTRY_ROWS" --nurses "$REGISTRY_NURSES" --out "$REGISTRY_CSV"
    DEMO_ROWS=$(($(wc -l <"$DEMO_REGISTRY") - 1))
    # Start-up with the demo table and with the big one, alternately, $STARTUP_ROUNDS times
    # each; the last start (big table) stays up for the load. The difference of the medians is
    # what loading the table costs.
    : >"$OUT/verification-startups.log"
    : >"$OUT/verification-startups.tsv"
    for round in $(seq "$STARTUP_ROUNDS"); do
      for table in demo big; do
        csv=$DEMO_REGISTRY server_log=$OUT/verification-startup.log
        [[ $table == big ]] && csv=$REGISTRY_CSV
        [[ $table == big && $round == "$STARTUP_ROUNDS" ]] && server_log=$SERVER_LOG
        start_bench_server "$server_log" LICENSE_REGISTRY_CSV="$csv" RUST_LOG=warn,shiftwire_api::state=info
        loaded=$(registry_loaded "$server_log")
        read -r loaded_secs records <<<"$loaded"
        printf '%s\t%s\t%s\t%s\t%s\n' "$table" "$records" "$loaded_secs" "$SERVER_READY_SECS" "$(rss_mib)" >>"$OUT/verification-startups.tsv"
        log "start-up $round, $records-row table: table loaded $loaded_secs s after spawn, /readyz $SERVER_READY_SECS s, RSS $(rss_mib) MiB"
        if [[ $server_log != "$SERVER_LOG" ]]; then
          cat "$server_log" >>"$OUT/verification-startups.log"
          stop_server
        fi
      done
    done
    rm -f "$OUT/verification-startup.log"
    stat_of() { awk -F'\t' -v t="$1" -v c="$2" '$1 == t { print $c }' "$OUT/verification-startups.tsv" | median; }
    BIG_ROWS=$(awk -F'\t' '$1 == "big" { print $2; exit }' "$OUT/verification-startups.tsv")
    ((BIG_ROWS == REGISTRY_ROWS)) || die "the server loaded $BIG_ROWS registry rows, not $REGISTRY_ROWS"
    LOAD_DEMO=$(stat_of demo 3) LOAD_BIG=$(stat_of big 3)
    READY_DEMO=$(stat_of demo 4) READY_BIG=$(stat_of big 4)
    RSS_DEMO=$(stat_of demo 5) RSS_BIG=$(stat_of big 5)
    ms_of() { awk -v s="$1" 'BEGIN { printf "%.0f ms", s * 1000 }'; }
    REGISTRY_LINE="Registry table: \`$REGISTRY_CSV\`, $REGISTRY_ROWS rows ($(du -k "$REGISTRY_CSV" | awk '{ printf "%.1f MiB", $1 / 1024 }'), from \`shiftwire-loadgen gen-registry --rows $REGISTRY_ROWS --nurses $REGISTRY_NURSES\`). Server start-up, median of $STARTUP_ROUNDS starts each, with it vs the $DEMO_ROWS-row demo table: spawn to \"licence registry table loaded\" $(ms_of "$LOAD_BIG") vs $(ms_of "$LOAD_DEMO") (so loading the table takes about $(awk -v a="$LOAD_BIG" -v b="$LOAD_DEMO" 'BEGIN { printf "%.0f ms", (a - b) * 1000 }')), spawn to first 200 from \`/readyz\` (polled every 10 ms) $(ms_of "$READY_BIG") vs $(ms_of "$READY_DEMO"), resident memory after start $RSS_BIG MiB vs $RSS_DEMO MiB"
    log "$REGISTRY_LINE"
    LOADGEN=("$LOADGEN_BIN" verification --base-url "http://$BIND" --registry-nurses "$REGISTRY_NURSES"
      --verifier-email "$VERIFIER_EMAIL")
    ;;
  recheck)
    RECHECK_CSV=$OUT/recheck-registry.csv
    mkdir -p "$OUT"
    log "seeding $RECHECK_NURSES nurses with verified identities and $RECHECK_LICENCES approved licences, and their registry table (psql)"
    SEEDED=$(psql_bench -v licences="$RECHECK_LICENCES" -v registry_csv="$RECHECK_CSV" \
      -f "$BENCH_SQL/recheck-approved-licences.sql")
    ((SEEDED == RECHECK_LICENCES)) || die "seeded $SEEDED approved licences, not $RECHECK_LICENCES"
    log "starting the server on $BIND (log: $SERVER_LOG)"
    start_bench_server "$SERVER_LOG" LICENSE_REGISTRY_CSV="$RECHECK_CSV" REGISTRY_RECHECK_INTERVAL_SECONDS=1
    SETUP_LINE="Set-up (psql, before the server starts): a registry table of $RECHECK_LICENCES active RN licences, every one a clean match, and $RECHECK_NURSES nurses each with a verified identity of the holder name and 40 of those licences approved; the server runs with that table (\`LICENSE_REGISTRY_CSV\`) and the default re-check settings (batches of 500, 16 registry lookups at once), looking for due licences every second (\`REGISTRY_RECHECK_INTERVAL_SECONDS=1\`)."
    LOADGEN=(bash scripts/recheck-drive.sh "$BENCH_URL")
    ;;
  marketplace)
    mkdir -p "$OUT"
    rm -f "$TOKENS" "$STORM_NURSES" "$STORM_SHIFTS"
    log "seeding $SHIFTS open shifts, $FACILITIES facilities, $NURSES nurses (log: $OUT/marketplace-seed.log)"
    seed_started=$(date +%s.%N)
    DATABASE_URL="$BENCH_URL" RUST_LOG=warn "$LOADGEN_BIN" seed --shifts "$SHIFTS" --facilities "$FACILITIES" \
      --nurses "$NURSES" --tokens-out "$TOKENS" >"$OUT/marketplace-seed.log" 2>&1 ||
      die "seeding failed; see $OUT/marketplace-seed.log"
    SEED_SECS=$(awk -v a="$seed_started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    log "seeded in $SEED_SECS s"
    # Storm data (bench only). The facility with the most open RN shifts that require no
    # certification; of those, $STORMS that start at least an hour from now and do not
    # overlap one another (the winner of one storm claims in the next).
    read -r STORM_FACILITY STORM_STATE < <(psql_bench -F ' ' -f "$BENCH_SQL/marketplace-storm-facility.sql")
    [[ -n ${STORM_FACILITY:-} ]] || die "no open RN shift without required certifications to storm"
    psql_bench -F ' ' -v facility="$STORM_FACILITY" -f "$BENCH_SQL/marketplace-storm-shift-candidates.sql" |
      awk -v n="$STORMS" 'picked < n && $2 >= free { print $1; free = $3; picked++ }' >"$STORM_SHIFTS"
    (($(wc -l <"$STORM_SHIFTS") == STORMS)) || die "fewer than $STORMS non-overlapping storm shifts at facility $STORM_FACILITY"
    # $CLAIMANTS verified synthetic RNs, licensed in the facility's state (or multistate)
    # well past the storm shifts' end, move home to the facility: within any radius.
    psql_bench -v facility="$STORM_FACILITY" -v state="$STORM_STATE" -v claimants="$CLAIMANTS" \
      -f "$BENCH_SQL/marketplace-storm-nurses-home.sql" | sort >"$STORM_NURSES"
    (($(wc -l <"$STORM_NURSES") == CLAIMANTS)) || die "only $(wc -l <"$STORM_NURSES") synthetic RNs for the $CLAIMANTS-nurse storms"
    psql_bench -v db="$BENCH_DB" -v timeout="$STATEMENT_TIMEOUT" -f "$BENCH_SQL/statement-timeout.sql"
    STORM_LINE="Storm set-up (bench data only, with psql before the server starts): facility \`$STORM_FACILITY\` (the Californian one with the most open RN shifts that require no certification); $STORMS of those shifts, starting more than an hour ahead and not overlapping one another; the first $CLAIMANTS synthetic nurses (by id) holding an approved RN licence valid in $STORM_STATE (or multistate) get that facility's location as their home, so each is within reach of each storm shift whatever their radius. They do not search from home. The bench database has \`statement_timeout = $STATEMENT_TIMEOUT\`."
    log "storms: facility $STORM_FACILITY, $STORMS shifts, $CLAIMANTS nurses"
    log "starting the server on $BIND (log: $SERVER_LOG)"
    start_bench_server "$SERVER_LOG" RUST_LOG=warn,shiftwire_matching=info
    # Nearby search reads the book of open shifts once the server has loaded it (PostGIS
    # answers until then): the searches start after its "loaded" line.
    book_line=
    for _ in $(seq 600); do
      book_line=$(grep -m1 '"book of open shifts loaded"' "$SERVER_LOG" || true)
      [[ -n $book_line ]] && break
      kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited; see $SERVER_LOG"
      sleep 0.5
    done
    [[ -n $book_line ]] || die "no 'book of open shifts loaded' line in $SERVER_LOG within 300 s"
    field() { sed -E "s/.*\"$1\":([0-9.]+).*/\1/" <<<"$book_line"; }
    BOOK_SHIFTS=$(field shifts) BOOK_SECS=$(field secs)
    BOOK_RSS_BEFORE=$(field rss_before_kib) BOOK_RSS_AFTER=$(field rss_after_kib)
    BOOK_LINE=$(awk -v n="$BOOK_SHIFTS" -v s="$BOOK_SECS" -v a="$BOOK_RSS_BEFORE" -v b="$BOOK_RSS_AFTER" 'BEGIN {
      printf "Book of open shifts (the server log'"'"'s \"book of open shifts loaded\" line): %d open shifts loaded in %.1f s; server RSS %.0f MiB before the load and %.0f MiB after, **%.0f bytes per open shift**", n, s, a / 1024, b / 1024, (b - a) * 1024 / n }')
    log "$BOOK_LINE"
    LOADGEN=("$LOADGEN_BIN" marketplace --base-url "http://$BIND" --tokens "$TOKENS"
      --storm-nurses "$STORM_NURSES" --storm-shifts "$STORM_SHIFTS" --storms "$STORMS" --claimants "$CLAIMANTS")
    ;;
  realtime | scale)
    rm -f "$TOKENS" "$WORLD_TSV" "$GROUPS_TSV"
    log "seeding $SHIFTS open shifts, $FACILITIES facilities, $NURSES nurses (log: $OUT/$SCENARIO-seed.log)"
    seed_started=$(date +%s.%N)
    DATABASE_URL="$BENCH_URL" RUST_LOG=warn "$LOADGEN_BIN" seed --shifts "$SHIFTS" --facilities "$FACILITIES" \
      --nurses "$NURSES" --tokens-out "$TOKENS" >"$OUT/$SCENARIO-seed.log" 2>&1 ||
      die "seeding failed; see $OUT/$SCENARIO-seed.log"
    SEED_SECS=$(awk -v a="$seed_started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    log "seeded in $SEED_SECS s"
    # Remote facilities (bench only): the target's, then one per fan-out size, each more
    # than 100 km from the seeded area (37.70 ± 0.6°, −122.20 ± 0.6°) and from one another,
    # so nobody but the nurses homed there (radii at most 50 km) can reach them.
    IFS=, read -r -a SIZES <<<"$FANOUT"
    SPOTS=("39.50 -122.20" "36.00 -122.20" "37.70 -120.00" "37.70 -124.40" "39.60 -119.60" "35.80 -119.80")
    ((${#SIZES[@]} + 1 <= ${#SPOTS[@]})) || die "at most $((${#SPOTS[@]} - 1)) fan-out sizes"
    NAMES=(target) COUNTS=(1)
    for size in "${SIZES[@]}"; do NAMES+=("fanout-$size"); COUNTS+=("$size"); done
    GROUP_TOTAL=0 GROUP_FACILITIES=()
    for i in "${!NAMES[@]}"; do
      read -r lat lon <<<"${SPOTS[$i]}"
      GROUP_FACILITIES+=("$(psql_bench -v name="${NAMES[$i]}" -v lat="$lat" -v lon="$lon" \
        -f "$BENCH_SQL/scale-remote-facility.sql")")
      GROUP_TOTAL=$((GROUP_TOTAL + COUNTS[i]))
    done
    ((GROUP_TOTAL <= CONNS)) || die "the groups ($GROUP_TOTAL nurses) do not fit in $CONNS connections"
    # Verified synthetic RNs licensed in CA (or multistate) well past the posted shifts, by
    # id, dealt out to the groups in order and homed at their facility. The groups go to
    # psql as array literals: {target,fanout-100}, {<uuid>,<uuid>}, {1,100}.
    psql_bench -F $'\t' -v total="$GROUP_TOTAL" -v names="$(as_array "${NAMES[@]}")" \
      -v facilities="$(as_array "${GROUP_FACILITIES[@]}")" -v sizes="$(as_array "${COUNTS[@]}")" \
      -f "$BENCH_SQL/scale-groups-home.sql" >"$GROUPS_TSV"
    (($(wc -l <"$GROUPS_TSV") == GROUP_TOTAL)) ||
      die "only $(wc -l <"$GROUPS_TSV") verified RNs licensed in CA for groups of $GROUP_TOTAL; seed more nurses"
    DATABASE_URL="$BENCH_URL" RUST_LOG=warn SHIFTWIRE_PASSWORD="$ADMIN_PASSWORD" \
      "$SERVER_BIN" admin create-user --email "$SCHEDULER_EMAIL" --role scheduler --facility "${GROUP_FACILITIES[0]}" >&2
    psql_bench -v email="$SCHEDULER_EMAIL" -f "$BENCH_SQL/scheduler-all-facilities.sql"
    psql_bench -f crates/test-support/sql/oracle-world.sql >"$WORLD_TSV"
    psql_bench -v db="$BENCH_DB" -v timeout="$STATEMENT_TIMEOUT" -f "$BENCH_SQL/statement-timeout.sql"
    SETUP_LINE="Set-up (bench data only, with psql before the server starts): remote facilities, each more than 100 km from the seeded area and from one another, for a target nurse and for groups of ${FANOUT//,/, } nurses (the first $GROUP_TOTAL synthetic nurses by id holding an approved RN licence valid in CA, homed at their group's facility); a scheduler of every facility (\`shiftwire admin create-user\` and psql) posts the shifts; the oracle's world (\`crates/test-support/sql/oracle-world.sql\`, $(grep -c '^N' "$WORLD_TSV") nurses, $(grep -c '^F' "$WORLD_TSV") facilities) exported with psql. Open files (\`ulimit -n\`) raised to $OPEN_FILES for the server and the load generator. The bench database has \`statement_timeout = $STATEMENT_TIMEOUT\`."
    log "$SCENARIO: groups ${NAMES[*]} ($GROUP_TOTAL nurses), $CONNS connections"
    log "starting the server on $BIND (log: $SERVER_LOG)"
    start_bench_server "$SERVER_LOG"
    SERVER_FILES=$(awk '/^Max open files/ { print $4 }' "/proc/$SERVER_PID/limits")
    [[ $SERVER_FILES == unlimited ]] || ((SERVER_FILES >= NEED_FILES)) ||
      die "the server may open only $SERVER_FILES files; $NEED_FILES needed"
    LOADGEN=("$LOADGEN_BIN" scale --base-url "http://$BIND" --nats-url "nats://127.0.0.1:$NATS_PORT"
      --tokens "$TOKENS" --world "$WORLD_TSV" --groups "$GROUPS_TSV" --email "$SCHEDULER_EMAIL"
      --server-pid "$SERVER_PID" --preset "$SCENARIO" --connections "$CONNS" --fanout-sizes "$FANOUT")
    ;;
  push)
    log "seeding $NURSES verified nurses (log: $OUT/push-seed.log)"
    seed_started=$(date +%s.%N)
    DATABASE_URL="$BENCH_URL" RUST_LOG=warn "$LOADGEN_BIN" seed --shifts 0 --facilities 1 \
      --nurses "$NURSES" >"$OUT/push-seed.log" 2>&1 || die "seeding failed; see $OUT/push-seed.log"
    SEED_SECS=$(awk -v a="$seed_started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    log "seeded in $SEED_SECS s"
    # One remote facility, more than 100 km from the seeded area (radii at most 50 km), and
    # the first $PUSH_GROUP verified RNs licensed in CA homed there: exactly they are eligible.
    PUSH_FACILITY=$(psql_bench -v name=push -v lat=39.50 -v lon=-122.20 -f "$BENCH_SQL/scale-remote-facility.sql")
    GROUPED=$(psql_bench -F $'\t' -v total="$PUSH_GROUP" -v names='{push}' -v facilities="{$PUSH_FACILITY}" \
      -v sizes="{$PUSH_GROUP}" -f "$BENCH_SQL/scale-groups-home.sql" | wc -l)
    ((GROUPED == PUSH_GROUP)) || die "only $GROUPED verified RNs licensed in CA for a group of $PUSH_GROUP; seed more nurses"
    DEVICES=$(psql_bench -f "$BENCH_SQL/push-devices.sql")
    DATABASE_URL="$BENCH_URL" RUST_LOG=warn SHIFTWIRE_PASSWORD="$ADMIN_PASSWORD" \
      "$SERVER_BIN" admin create-user --email "$SCHEDULER_EMAIL" --role scheduler --facility "$PUSH_FACILITY" >&2
    psql_bench -v db="$BENCH_DB" -v timeout="$STATEMENT_TIMEOUT" -f "$BENCH_SQL/statement-timeout.sql"
    SETUP_LINE="Set-up (bench data only, before the server starts): \`shiftwire-loadgen seed\` wrote $NURSES verified synthetic nurses over the Bay Area (radii 10–50 km); psql added one remote facility more than 100 km from all of them, homed the first $PUSH_GROUP nurses by id holding an approved RN licence valid in CA there, and gave every nurse a device ($DEVICES in all); nobody holds a socket. The server pushes through \`PUSH_PROVIDER=webhook\` to a stand-in served by the load generator (answers 200 at once), with \`PUSH_COALESCE_SECONDS=0\` so that every shift is a full burst and the default \`PUSH_CONCURRENCY=64\`. Each shift is an RN shift without certifications at the remote facility, so exactly the $PUSH_GROUP are eligible."
    log "starting the server on $BIND (log: $SERVER_LOG)"
    start_bench_server "$SERVER_LOG" PUSH_PROVIDER=webhook PUSH_WEBHOOK_URL="http://$WEBHOOK/push" \
      PUSH_COALESCE_SECONDS=0 RUST_LOG=warn,shiftwire_notify::push=info
    LOADGEN=("$LOADGEN_BIN" push --base-url "http://$BIND" --email "$SCHEDULER_EMAIL"
      --facility "$PUSH_FACILITY" --group "$PUSH_GROUP" --server-log "$SERVER_LOG")
    ;;
esac

# --- load --------------------------------------------------------------------------------
if [[ $SCENARIO == auth || $SCENARIO == verification || $SCENARIO == push ]]; then LOADGEN+=(--webhook-addr "$WEBHOOK"); fi
LOADGEN+=(--json-out "$OUT/$SCENARIO.json" --markdown-out "$OUT/$SCENARIO.md" "$@")
# CPU accounting, to tell whether something else on the machine (a compiler, say) took CPU
# during the run: all busy time, minus what the server, PostgreSQL and the load generator used.
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; } # user nice system irq softirq
proc_ticks() { # utime+stime+cutime+cstime of the given pids
  local pid total=0
  for pid in "$@"; do
    [[ -r /proc/$pid/stat ]] || continue
    total=$((total + $(sed 's/^.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 + $14 + $15 }')))
  done
  echo "$total"
}
# PostgreSQL time of this benchmark: every postgres process except client backends of other
# databases (someone's tests on the same server, say), which count as other processes. One
# "pid ticks" line (utime + stime) each; backends that exit during the run (none of the
# server's pooled connections should) are lost and so end up among the other processes.
pg_sample() {
  local others pid
  others=" $(psql -X "$ADMIN_URL" -Atq -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND datname IS DISTINCT FROM '$BENCH_DB'" 2>/dev/null | tr '\n' ' ') "
  for pid in $(pgrep -u postgres || true); do
    [[ $others == *" $pid "* || ! -r /proc/$pid/stat ]] && continue
    echo "$pid $(sed 's/^.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }')"
  done
}
pg_ticks() { awk 'NR == FNR { start[$1] = $2; next } { d += $2 - start[$1] } END { print d + 0 }' "$1" "$2"; }
children_secs() { awk 'END { split($1, u, /[ms]/); split($2, s, /[ms]/); print u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$1"; }
TICK=$(getconf CLK_TCK)

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average before: $LOAD_BEFORE"
times >"$OUT/times.before" # `times` in this shell (not a subshell): its children's CPU so far
pg_sample >"$OUT/pg.before"
BUSY0=$(busy_ticks) SERVER0=$(proc_ticks "$SERVER_PID") WALL0=$(date +%s.%N)
SHIFTWIRE_BENCH_PASSWORD="$ADMIN_PASSWORD" "${LOADGEN[@]}"
BUSY1=$(busy_ticks) SERVER1=$(proc_ticks "$SERVER_PID") WALL1=$(date +%s.%N)
pg_sample >"$OUT/pg.after"
times >"$OUT/times.after"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average after: $LOAD_AFTER"
IFS=$'\t' read -r CPU_USE OTHER_SHARE < <(awk -v t="$TICK" -v n="$(nproc)" -v w0="$WALL0" -v w1="$WALL1" \
  -v busy=$((BUSY1 - BUSY0)) -v server=$((SERVER1 - SERVER0)) -v pg="$(pg_ticks "$OUT/pg.before" "$OUT/pg.after")" \
  -v lg0="$(children_secs "$OUT/times.before")" -v lg1="$(children_secs "$OUT/times.after")" 'BEGIN {
    wall = w1 - w0; avail = wall * n; lg = lg1 - lg0
    other = busy / t - server / t - pg / t - lg; if (other < 0) other = 0
    printf "server %.1f, PostgreSQL (this database and shared processes) %.1f, load generator %.1f, other processes %.1f, of %.0f available in %.0f s\t%.0f\n",
      server / t, pg / t, lg, other, avail, wall, 100 * other / avail
  }')
log "CPU seconds during the run: $CPU_USE"
if ((OTHER_SHARE >= 5)); then
  log "WARNING: other processes used ${OTHER_SHARE}% of the CPU during the run; the numbers are disturbed"
fi
kill -0 "$SERVER_PID" 2>/dev/null || die "the server died during the run; see $SERVER_LOG"
stop_server
trap - EXIT

SERVER_WARNINGS=$(grep -c '"level":"WARN"' "$SERVER_LOG" || true)
SERVER_ERRORS=$(grep -c '"level":"ERROR"' "$SERVER_LOG" || true)
((SERVER_WARNINGS + SERVER_ERRORS == 0)) ||
  log "the server logged $SERVER_ERRORS errors and $SERVER_WARNINGS warnings; see $SERVER_LOG"

if [[ $SCENARIO == scale ]]; then
  # No match (a run without the storm phase) is no failure.
  STORM_SHIFT=$({ grep -o '"shift_id": *"[^"]*"' "$OUT/$SCENARIO.json" || true; } | head -n1 | sed -E 's/.*: *"([^"]*)"/\1/')
  if [[ -z $STORM_SHIFT ]]; then
    DB_LINE="No claim storm in this run"
  else
    DB_BOOKINGS=$(psql_bench -v shifts="{$STORM_SHIFT}" -f "$BENCH_SQL/storm-bookings-per-shift.sql")
    DB_LINE="Database after the run (psql): the storm shift has $DB_BOOKINGS booking(s) (exactly 1 is right)"
    [[ $DB_BOOKINGS == 1 ]] || DB_LINE="**CRITICAL: $DB_LINE**"
  fi
  log "$DB_LINE"
fi

if [[ $SCENARIO == marketplace ]]; then
  STATEMENT_TIMEOUTS=$(grep '"level":"ERROR"' "$SERVER_LOG" | grep -c 'canceling statement due to statement timeout' || true)
  SLOW_STATEMENTS=$(grep '"level":"WARN"' "$SERVER_LOG" | grep -c '"slow statement' || true)
  # The database's own count of each storm shift's bookings, next to what the answers said,
  # for the shifts the load generator stormed (ARGS may ask for fewer storms than prepared).
  STORMED=$(grep -o '"shift_id": *"[^"]*"' "$OUT/$SCENARIO.json" | sed -E 's/.*: *"([^"]*)"/\1/' | paste -sd, -)
  if [[ -z $STORMED ]]; then
    DB_LINE="No claim storms in this run"
  else
    DB_BOOKINGS=$(psql_bench -v shifts="{$STORMED}" -f "$BENCH_SQL/storm-bookings-per-shift.sql")
    DB_SHIFTS=$(psql_bench -v shifts="{$STORMED}" -f "$BENCH_SQL/storm-shifts-booked.sql")
    DB_LINE="Database after the run (psql): bookings of each storm shift $DB_BOOKINGS (exactly 1 each is right); $DB_SHIFTS storm shifts \`booked\`"
    log "$DB_LINE"
    if grep -qvx 1 < <(tr ',' '\n' <<<"$DB_BOOKINGS" | tr -d ' '); then
      log "CRITICAL: a storm shift does not have exactly one booking in the database: $DB_BOOKINGS"
      DB_LINE="**CRITICAL: $DB_LINE**"
    fi
  fi
fi

if [[ $SCENARIO == realtime ]]; then
  # The server's offer log (written in batches after delivery) of every shift posted at a
  # group's facility, per group: how many nurses each was offered to (every member of the
  # group, all connected, is right) and offers to anyone outside the group.
  DB_GROUPS=$(psql_bench -F ' ' -f "$BENCH_SQL/realtime-offer-log-per-group.sql")
  DB_LINE="Database after the run (psql, the server's offer log):"
  DB_OK=1
  while read -r name size shifts lo hi wrong; do
    DB_LINE+=" each of the $shifts shifts posted at the $name group's facility was offered to $lo–$hi nurses ($size is right), $wrong offers to anyone else;"
    [[ $lo == "$size" && $hi == "$size" && $wrong == 0 ]] || DB_OK=0
  done <<<"$DB_GROUPS"
  DB_LINE=${DB_LINE%;}
  log "$DB_LINE"
  if ((!DB_OK)) || [[ -z $DB_GROUPS ]]; then
    log "CRITICAL: the offer log does not show every shift offered to exactly its group's nurses"
    DB_LINE="**CRITICAL: $DB_LINE**"
  fi
fi

if ((!RECORD)); then
  log "not recording in BENCHMARKS.md (extra flags or BENCH_SERVER_BIN given; BENCH_RECORD=1 records anyway); results in $OUT/$SCENARIO.md"
  exit 0
fi

# --- BENCHMARKS.md -----------------------------------------------------------------------
bench_provenance
COMMAND="make bench-$SCENARIO"
(($#)) && COMMAND="make bench-$SCENARIO ARGS=\"$*\""
LOADGEN_SHOWN=$(printf '%q ' "${LOADGEN[@]}")
case $SCENARIO in
  auth)
    TITLE="Sign-in: \`/healthz\` under password logins, OTP verify throughput"
    SERVER_SHOWN="\`shiftwire serve\` (release build, \`RUST_LOG=warn\`, per-IP rate limits raised)"
    ;;
  recheck)
    TITLE="Registry re-check of $(sed -E ':a; s/([0-9])([0-9]{3})($|,)/\1,\2\3/; ta' <<<"$RECHECK_LICENCES") approved licences"
    SERVER_SHOWN="\`shiftwire serve\` (release build, \`LICENSE_REGISTRY_CSV=$OUT/recheck-registry.csv\`, \`RUST_LOG=warn\`)"
    ;;
  verification)
    TITLE="Credential verification: submission to automatic decision"
    SERVER_SHOWN="\`shiftwire serve\` (release build, \`LICENSE_REGISTRY_CSV=$REGISTRY_CSV\`, \`RUST_LOG=warn,shiftwire_api::state=info\`, per-IP rate limits raised)"
    ;;
  marketplace)
    TITLE="Marketplace: nearby search over $(sed -E ':a; s/([0-9])([0-9]{3})($|,)/\1,\2\3/; ta' <<<"$SHIFTS") open shifts, claim storms"
    SERVER_SHOWN="\`shiftwire serve\` (release build, \`RUST_LOG=warn,shiftwire_matching=info\` for the book's \"loaded\" line, default database pool of 20 connections)"
    ;;
  realtime)
    TITLE="Real-time offers: POST to WebSocket offer among 1,000 connected nurses, fan-out to 1,000, NATS core baseline"
    SERVER_SHOWN="\`shiftwire serve\` (release build, \`RUST_LOG=warn\`, in-process event bus, default WebSocket settings); NATS baseline: $(nats-server --version 2>/dev/null || echo "a NATS server") on 127.0.0.1:$NATS_PORT"
    ;;
  push)
    TITLE="Pushes to nurses whose app is closed: $(sed -E ':a; s/([0-9])([0-9]{3})($|,)/\1,\2\3/; ta' <<<"$PUSH_GROUP") eligible and offline among $(sed -E ':a; s/([0-9])([0-9]{3})($|,)/\1,\2\3/; ta' <<<"$NURSES") verified nurses"
    SERVER_SHOWN="\`shiftwire serve\` (release build, \`PUSH_PROVIDER=webhook\`, \`PUSH_COALESCE_SECONDS=0\`, \`RUST_LOG=warn,shiftwire_notify::push=info\` for the planner's timing line)"
    ;;
  scale)
    TITLE="Real-time offers at scale: $(sed -E ':a; s/([0-9])([0-9]{3})($|,)/\1,\2\3/; ta' <<<"$CONNS") live WebSocket connections to one server, delivery oracle, NATS core baseline"
    SERVER_SHOWN="\`shiftwire serve\` (release build, \`RUST_LOG=warn\`, in-process event bus, default WebSocket settings); NATS baseline: $(nats-server --version 2>/dev/null || echo "a NATS server") on 127.0.0.1:$NATS_PORT"
    ;;
esac

BLOCK=$(mktemp)
NEW=$(mktemp)
trap 'rm -f "$BLOCK" "$NEW"' EXIT
{
  echo "$START_MARK"
  echo "## $TITLE"
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- Commit: \`$COMMIT\`"
  echo "- Machine: $(nproc) CPUs (${CPU:-unknown CPU}), ${MEM_GIB} GiB RAM, Linux $(uname -r); load average (1/5/15 min) $LOAD_BEFORE before the run, $LOAD_AFTER after"
  echo "- Command: \`$COMMAND\`, which ran \`${LOADGEN_SHOWN% }\` against $SERVER_SHOWN"
  if [[ $SCENARIO == verification ]]; then echo "- $REGISTRY_LINE"; fi
  if [[ $SCENARIO == marketplace ]]; then
    echo "- Data: \`shiftwire-loadgen seed --shifts $SHIFTS --facilities $FACILITIES --nurses $NURSES --tokens-out $TOKENS\` into the fresh bench database took $SEED_SECS s (before the server started; not part of the CPU figures below)"
    echo "- $STORM_LINE"
    echo "- $BOOK_LINE"
  fi
  if [[ $SCENARIO == recheck ]]; then echo "- $SETUP_LINE"; fi
  if [[ $SCENARIO == push ]]; then
    echo "- Data: \`shiftwire-loadgen seed --shifts 0 --facilities 1 --nurses $NURSES\` into the fresh bench database took $SEED_SECS s"
    echo "- $SETUP_LINE"
  fi
  if [[ $SCENARIO == realtime || $SCENARIO == scale ]]; then
    echo "- Data: \`shiftwire-loadgen seed --shifts $SHIFTS --facilities $FACILITIES --nurses $NURSES --tokens-out $TOKENS\` into the fresh bench database took $SEED_SECS s (before the server started; not part of the CPU figures below)"
    echo "- $SETUP_LINE"
  fi
  echo "- CPU seconds used during the load generator's run: $CPU_USE (other processes: ${OTHER_SHARE}% of the machine)"
  if [[ $SCENARIO == marketplace ]]; then
    echo "- Server log during the run: $SERVER_ERRORS errors ($STATEMENT_TIMEOUTS requests failed with \"canceling statement due to statement timeout\"), $SERVER_WARNINGS warnings ($SLOW_STATEMENTS \"slow statement\", over 1 s)"
    echo "- $DB_LINE"
  else
    echo "- Server log during the run: $SERVER_ERRORS errors, $SERVER_WARNINGS warnings"
  fi
  if [[ $SCENARIO == realtime || $SCENARIO == scale ]]; then echo "- $DB_LINE"; fi
  echo
  cat "$OUT/$SCENARIO.md"
  echo "$END_MARK"
} >"$BLOCK"

if [[ -f BENCHMARKS.md ]] && grep -qxF "$START_MARK" BENCHMARKS.md && grep -qxF "$END_MARK" BENCHMARKS.md; then
  replace_block "$START_MARK" "$END_MARK" "$BLOCK" >"$NEW"
elif [[ -f BENCHMARKS.md ]]; then
  { cat BENCHMARKS.md; echo; cat "$BLOCK"; } >"$NEW"
else
  cat >"$NEW" <<'EOF'
# Benchmarks

Recorded runs of the project's benchmarks, newest run of each in place. Regenerate all four
with `make bench` (about 5 minutes after the release build), or one with `make bench-auth` /
`make bench-verification` / `make bench-marketplace` / `make bench-realtime` (needs only what
`make up` needs, and a NATS server on 127.0.0.1:4222 for the realtime baseline: it
builds release binaries, recreates a `shiftwire_bench` database on the local PostgreSQL,
starts the server on 127.0.0.1:18080 and stops it again). Only the marked blocks are
rewritten; text outside them is kept. A run with extra flags
(`make bench-verification ARGS="--submissions 100"`) is a smoke run and is not recorded.

**Sign-in** (`shiftwire-loadgen auth`, in `load-tests/`) answers: does password hashing stall
the server? It measures the latency of `GET /healthz`, sent open-loop at a fixed rate (so a
stall shows up as latency rather than as requests never sent), first alone and then, in the
same run, while 50 clients sign in with a password in a loop (argon2id, m = 19 MiB, t = 2,
p = 1, at most one hash per core at a time). It also measures how many SMS sign-in codes
(`POST /v1/auth/otp/verify`) the server verifies per second; the codes arrive through the
SMS webhook, which the load generator serves itself.

**Credential verification** (`shiftwire-loadgen verification`) answers: how long after a
nurse submits a licence is the automatic registry check's decision visible to them? The
server loads a generated registry table of 100,000 fictional licences
(`shiftwire-loadgen gen-registry`, `LICENSE_REGISTRY_CSV`) that lists every submitted
licence as an exact, clean match, so every submission should be approved automatically;
any other outcome is counted as an error. Nurses sign in by SMS code and set their names;
then 1,000 RN licences are submitted one at a time (pure latency) and 1,000 more by 16
concurrent submitters (latency under load, and decisions per second), each timed from just
before `POST /v1/me/credentials` until a poll of `GET /v1/me/credentials/{id}` (every 1 ms,
which bounds the resolution) shows `automatic_check_done: true`. The baseline, measured in
the same run, is the round trip of a plain `GET /v1/me/credentials/{id}`: the floor every
client-observed decision time includes. The run also times the server's start-up with the
100,000-row table against the 13-row demo table, to show what loading the table costs.
The polls are load too (thousands of `GET`/s with 16 submitters polling every 1 ms), served
by the same two cores as the automatic check (`VERIFICATION_CHECKERS` concurrent checkers per
server, default 4), so under concurrency the polls slow the very decisions they wait for;
`--poll-interval-us` changes the pause.

**Marketplace** (`shiftwire-loadgen marketplace`) answers: how fast is nearby search in a
metro area full of open shifts, and does a storm of simultaneous claims book a shift exactly
once, and how fast? `shiftwire-loadgen seed --shifts 1000000 --facilities 10000 --nurses 2000` fills
the fresh bench database with 1,000,000 open shifts at 10,000 facilities spread over the San
Francisco Bay Area (37.70, −122.20 ± 0.6°) and 2,000 verified synthetic nurses (homes in the
area, radii 10–50 km), and writes an access token per nurse to `target/bench/tokens.tsv`
(local only; they last 15 minutes, which bounds the run); the block says how long seeding
took. Nearby searches (`GET /v1/shifts/nearby`, default radius and page size of 50) go one at
a time, each by the next nurse in turn, first from the nurse's home (no `lat`/`lon`), then
at pseudo-random points of the area, then from home by 8 concurrent clients (searches per
second). The baseline is measured in the same run: 1,000 `GET /healthz` and `GET /v1/me`
(the same token check and user lookup as a search) one at a time before any search, and
the same pair again after each sequential search. The mean number of items shows the
searches are not trivial; any answer but 200 is an error. Goal: p99 ≤ 5 ms. Then 5 claim storms: for each of 5 shifts, 1,000 nurses, each on a warm connection of
its own, claim it at once (they wait at a barrier), each claim timed from just before its
`POST /v1/shifts/{id}/claim`. Exactly one 201 and 999 × 409 `shift_taken` must come back, the
winner's `GET /v1/me/bookings` must list the booking, every claimant's bookings are read
after the last storm, and psql counts each storm shift's bookings. Goal: claim p99 ≤ 50 ms.
The storms are set up with psql (bench data only): open RN shifts that require no
certification at one facility, no two overlapping in time (the same nurses claim in every
storm); 1,000 synthetic RNs get that facility's location as their home, so each is eligible
for each storm shift, and they do not search from home. The bench database gets
`statement_timeout = 10s`, so a pathological query is cut off (the server answers 500)
instead of running on after the run.

**Real-time offers** (`make bench-realtime`: `shiftwire-loadgen scale --preset realtime`, the
small case of the scale scenario) answers: how soon after a scheduler posts a shift does the
offer reach an eligible nurse's phone, and how long does one shift take to reach 1,000
eligible nurses? 1,001 synthetic nurses hold a WebSocket (`GET /v1/ws`) each: a target nurse
and a group of 1,000, each homed at a remote facility of its own, out of everyone else's
reach (set up with psql, bench data only). 300 shifts posted at the target's facility, one
every 100 ms, are each timed from just before the `POST` until the target's socket holds the
`shift.offered` frame, with the `POST`'s own round trip as the baseline. Then 20 shifts
posted at the group's facility are each timed to the first, median and last of the 1,000
deliveries. The baseline, measured in the same run, is NATS core fanning the bytes of one
of those offers out to 1,000 subscribers, each on its own connection. The delivery oracle
judges every shift posted: every eligible nurse must get it exactly once, nobody else.

The server, its PostgreSQL and the load generator share one 2-core machine, so the load
generator takes CPU from the server: absolute numbers are conservative, and the comparison
within one run is what counts. Each block reports how much CPU other processes took during
its run; above 5% the numbers are disturbed.

EOF
  cat "$BLOCK" >>"$NEW"
fi
cat "$NEW" >BENCHMARKS.md
log "recorded the results in BENCHMARKS.md"
