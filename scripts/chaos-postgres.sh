#!/usr/bin/env bash
# shellcheck disable=SC2016 # the figures' awk programs are in single quotes on purpose
# Fault scenario (`make chaos`): PostgreSQL is stopped while Shiftwire serves traffic, then
# started again, and Shiftwire is NOT restarted.
#
# What must hold, and what the script checks and reports:
#   - while the database is down, /readyz answers 503 and requests fail fast with a 503
#     problem (`database_unavailable`), never another 5xx and never a hang;
#   - once it is back, Shiftwire serves again on its own (readiness and a real request);
#   - nothing is half-done: every booked shift has exactly one live booking, no live
#     booking sits on a shift that is not booked, and every booked shift's event is in
#     the outbox (no partial bookings).
#
# It stops the machine's PostgreSQL cluster (the one on port 5432) for a few seconds:
# do not run it while tests or benchmarks use that server.
#
# Results: target/chaos/postgres.md (also printed), the server's log in
# target/chaos/postgres-server.log, and the block between the
# `<!-- chaos:postgres:start -->` / `<!-- chaos:postgres:end -->` markers in SECURITY.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

LOG_TAG=chaos
# log, die, fresh_db, start_server, wait_ready, stop_server, and BENCH_SQL (the SQL files).
source scripts/lib.sh

DB=shiftwire_chaos
BIND=127.0.0.1:18090
BASE=http://$BIND
OUT=target/chaos
DOWN_SECONDS=${CHAOS_DOWN_SECONDS:-8}
TRAFFIC_SECONDS_BEFORE=${CHAOS_WARMUP_SECONDS:-4}
mkdir -p "$OUT"
SERVER_LOG=$OUT/postgres-server.log
REPORT=$OUT/postgres.md
STATUSES=$OUT/postgres-statuses.tsv
: >"$STATUSES"

as_root() { if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi; }
read -r PG_VER PG_NAME < <(pg_lsclusters -h | awk '$3 == 5432 { print $1, $2; exit }') ||
  die "no PostgreSQL cluster on port 5432 (run scripts/ensure-postgres.sh)"
pg_stop() { as_root pg_ctlcluster --skip-systemctl-redirect "$PG_VER" "$PG_NAME" stop -m fast; }
pg_start() { as_root pg_ctlcluster --skip-systemctl-redirect "$PG_VER" "$PG_NAME" start; }

fresh_db "$DB"
CHAOS_URL=$DB_URL

log "building"
SQLX_OFFLINE=true cargo build --release --bin shiftwire --bin shiftwire-loadgen
TARGET=${CARGO_TARGET_DIR:-target}
BIN=$TARGET/release/shiftwire
DATABASE_URL=$CHAOS_URL "$BIN" migrate >/dev/null
DATABASE_URL=$CHAOS_URL RUST_LOG=warn "$BIN" seed >/dev/null
# 200 verified nurses with bench tokens, and facilities for them (no shifts: the scheduler
# below posts them).
DATABASE_URL=$CHAOS_URL RUST_LOG=warn "$TARGET/release/shiftwire-loadgen" seed --shifts 0 --facilities 20 \
  --nurses 200 --tokens-out "$OUT/tokens.tsv" >/dev/null

cleanup() {
  # PostgreSQL must be left running whatever happened.
  pg_lsclusters -h | awk -v p=5432 '$3 == p { print $4 }' | grep -q online || pg_start || true
  stop_server
  jobs -p | xargs -r kill 2>/dev/null || true
}
trap cleanup EXIT

log "starting the server on $BIND"
start_server "$BIN" "$SERVER_LOG" DATABASE_URL="$CHAOS_URL" BIND_ADDR="$BIND" RUST_LOG=warn \
  LOGIN_ATTEMPTS_PER_IP_PER_MINUTE=100000 METRICS_ADDR=off -- --no-migrate
wait_ready "$BASE" 10

# The demo scheduler of Mercy General posts; bench nurses (verified, homes over the Bay
# Area) claim whatever is open near them.
SCHEDULER=$(curl -sf "$BASE/v1/auth/login" -H 'content-type: application/json' \
  -d '{"email":"scheduler@mercy-general.example","password":"shiftwire-demo-2026"}' | jq -r .access_token)
MERCY=$(psql -X "$CHAOS_URL" -Atc "SELECT id FROM facilities WHERE name = 'Mercy General Hospital'")
# Bench nurses get homes at Mercy (nurse_profiles) so each can claim its shifts.
psql -X "$CHAOS_URL" -q -v ON_ERROR_STOP=1 -v facility="$MERCY" -f "$BENCH_SQL/chaos-nurses-home.sql"
mapfile -t NURSE_TOKENS < <(cut -f2 "$OUT/tokens.tsv")

# One request, recorded with the current phase: phase, kind, HTTP status, problem code, seconds.
request() {
  local kind=$1 method=$2 path=$3 token=$4 body=${5:-}
  local out status code secs answer phase
  # The phase the request started in: one that began before the database stopped is not
  # a request "while it was down".
  phase=$(cat "$OUT/phase")
  answer=$(mktemp "$OUT/answer.XXXXXX")
  out=$(curl -s -o "$answer" -w '%{http_code} %{time_total}' --max-time 15 \
    -X "$method" "$BASE$path" -H "authorization: Bearer $token" \
    ${body:+-H 'content-type: application/json' -d "$body"}) || out="000 15"
  status=${out%% *}
  secs=${out##* }
  code=$(jq -r '.code // ""' "$answer" 2>/dev/null || true)
  # A request still running when the phase changed straddled the change: not judged.
  [[ $(cat "$OUT/phase") == "$phase" ]] || phase=straddling
  printf '%s\t%s\t%s\t%s\t%s\n' "$phase" "$kind" "$status" "$code" "$secs" >>"$STATUSES"
  if [[ $status == 201 && $kind == post ]]; then jq -r .id "$answer" >>"$OUT/posted.txt"; fi
  rm -f "$answer"
  return 0
}

echo before >"$OUT/phase"
: >"$OUT/posted.txt"
traffic() {
  local n=0
  while :; do
    n=$((n + 1))
    local start
    start=$(date -u -d "+$((2 + n % 20)) days $((n % 24)) hours" +%Y-%m-%dT%H:00:00Z)
    local end
    end=$(date -u -d "$start + 8 hours" +%Y-%m-%dT%H:%M:%SZ)
    request post POST "/v1/facilities/$MERCY/shifts" "$SCHEDULER" \
      "{\"role\":\"RN\",\"starts_at\":\"$start\",\"ends_at\":\"$end\",\"hourly_rate_cents\":7000,\"required_certifications\":[],\"unit\":\"3 East\",\"handoff\":{\"report_to\":\"Charge nurse\",\"arrival_instructions\":\"Main entrance\"}}"
    local shift
    shift=$(tail -n1 "$OUT/posted.txt" 2>/dev/null || true)
    if [[ -n $shift ]]; then
      # Two nurses race for it.
      request claim POST "/v1/shifts/$shift/claim" "${NURSE_TOKENS[$((RANDOM % ${#NURSE_TOKENS[@]}))]}" '{}' &
      request claim POST "/v1/shifts/$shift/claim" "${NURSE_TOKENS[$((RANDOM % ${#NURSE_TOKENS[@]}))]}" '{}' &
      wait
    fi
    request readyz GET /readyz "$SCHEDULER"
    sleep 0.05
  done
}
traffic &
TRAFFIC_PID=$!
# Readers probing alongside, each request on its own, so the outage sees many of them.
probe() {
  while :; do
    request readyz GET /readyz "$SCHEDULER" &
    request list GET "/v1/facilities/$MERCY/shifts" "$SCHEDULER" &
    sleep 0.2
  done
}
probe &
PROBE_PID=$!
sleep "$TRAFFIC_SECONDS_BEFORE"

log "stopping PostgreSQL for ${DOWN_SECONDS}s"
echo stopping >"$OUT/phase"
pg_stop
echo down >"$OUT/phase"
sleep "$DOWN_SECONDS"
echo recovering >"$OUT/phase"
pg_start
UP_AT=$(date +%s.%N)
log "PostgreSQL is back; waiting for Shiftwire to notice (no restart)"
# Not wait_ready: never ready again is a finding for the report below, not a reason to stop.
READY_AFTER=
for _ in $(seq 300); do
  if curl -sf "$BASE/readyz" >/dev/null; then
    READY_AFTER=$(awk -v now="$(date +%s.%N)" -v up="$UP_AT" 'BEGIN { printf "%.1f", now - up }')
    break
  fi
  sleep 0.1
done
echo after >"$OUT/phase"
sleep 3
kill "$TRAFFIC_PID" "$PROBE_PID" 2>/dev/null || true
wait "$TRAFFIC_PID" "$PROBE_PID" 2>/dev/null || true
sleep 4 # let the last probes finish
SERVER_ALIVE=no
kill -0 "$SERVER_PID" 2>/dev/null && SERVER_ALIVE=yes

# --- figures -----------------------------------------------------------------------------
count() { awk -F'\t' "$1" "$STATUSES" | wc -l | tr -d ' '; }
DOWN_REQUESTS=$(count '$1 == "down"')
DOWN_503=$(count '$1 == "down" && $3 == 503')
DOWN_OTHER_5XX=$(count '$1 == "down" && $3 >= 500 && $3 != 503')
DOWN_NO_ANSWER=$(count '$1 == "down" && $3 == "000"')
DOWN_READYZ_503=$(count '$1 == "down" && $2 == "readyz" && $3 == 503')
DOWN_READYZ=$(count '$1 == "down" && $2 == "readyz"')
DOWN_NOT_PROBLEM=$(count '$1 == "down" && $3 == 503 && $2 != "readyz" && $4 != "database_unavailable"')
DOWN_MAX_SECS=$(awk -F'\t' '$1 == "down" { if ($5 > m) m = $5 } END { printf "%.2f", m }' "$STATUSES")
AFTER_OK=$(count '$1 == "after" && ($3 == 201 || $3 == 200 || $3 == 409)')
AFTER_5XX=$(count '$1 == "after" && $3 >= 500')
BEFORE_5XX=$(count '$1 == "before" && $3 >= 500')
TOTAL=$(wc -l <"$STATUSES" | tr -d ' ')
CHECK=$(psql -X "$CHAOS_URL" -At -F' ' -v ON_ERROR_STOP=1 -f "$BENCH_SQL/chaos-booking-consistency.sql")
read -r BAD_BOOKED BAD_LIVE MISSING_EVENTS BOOKED <<<"$CHECK"

OK=yes
((DOWN_REQUESTS > 0)) || OK=no
((DOWN_OTHER_5XX == 0 && DOWN_NO_ANSWER == 0 && DOWN_NOT_PROBLEM == 0)) || OK=no
((DOWN_READYZ > 0 && DOWN_READYZ_503 == DOWN_READYZ)) || OK=no
[[ -n $READY_AFTER ]] || OK=no
((AFTER_OK > 0 && AFTER_5XX == 0 && BEFORE_5XX == 0)) || OK=no
((BAD_BOOKED == 0 && BAD_LIVE == 0 && MISSING_EVENTS == 0)) || OK=no
[[ $SERVER_ALIVE == yes ]] || OK=no

{
  echo "### PostgreSQL stopped during traffic ($(date -u +%Y-%m-%d), commit \`$(git rev-parse --short HEAD)\`, \`make chaos\`)"
  echo
  echo "Traffic: the demo scheduler posts a shift and two bench nurses race to claim it, in a loop, with a \`/readyz\` probe each turn; alongside, every 200 ms, one \`/readyz\` and one shift list, each on its own. Requests that straddled the stop or the start are not judged. PostgreSQL (\`pg_ctlcluster ... stop -m fast\`) was down ${DOWN_SECONDS} s; Shiftwire kept running."
  echo
  echo "| figure | value |"
  echo "| --- | ---: |"
  echo "| requests in all | $TOTAL |"
  echo "| requests while the database was down | $DOWN_REQUESTS |"
  echo "| of those answered 503 | $DOWN_503 |"
  echo "| of those another 5xx / no answer within 15 s | $DOWN_OTHER_5XX / $DOWN_NO_ANSWER |"
  echo "| 503s that were not a \`database_unavailable\` problem (readiness aside) | $DOWN_NOT_PROBLEM |"
  echo "| \`/readyz\` while down: 503 of | $DOWN_READYZ_503 of $DOWN_READYZ |"
  echo "| slowest answer while down | ${DOWN_MAX_SECS} s |"
  echo "| ready again after PostgreSQL started | ${READY_AFTER:-never} s |"
  echo "| requests after recovery answered normally (200/201/409) | $AFTER_OK |"
  echo "| 5xx before the fault / after recovery | $BEFORE_5XX / $AFTER_5XX |"
  echo "| booked shifts | $BOOKED |"
  echo "| booked shifts without exactly one live booking | $BAD_BOOKED |"
  echo "| live bookings on a shift that is not booked | $BAD_LIVE |"
  echo "| booked shifts without their \`shift.booked\` event | $MISSING_EVENTS |"
  echo "| Shiftwire still running (never restarted) | $SERVER_ALIVE |"
  echo
  echo "Outcome: $([[ $OK == yes ]] && echo 'nothing lost, nothing half-done' || echo '**FAILED** (see above)')."
} >"$REPORT"
cat "$REPORT"

if [[ ${CHAOS_RECORD:-1} == 1 ]] && [[ -f SECURITY.md ]] && grep -q '<!-- chaos:postgres:start -->' SECURITY.md; then
  python3 - "$REPORT" <<'PY'
import sys, re
report = open(sys.argv[1]).read().strip()
text = open("SECURITY.md").read()
text = re.sub(r"(<!-- chaos:postgres:start -->\n).*?(<!-- chaos:postgres:end -->)",
              lambda m: m.group(1) + report + "\n" + m.group(2), text, flags=re.S)
open("SECURITY.md", "w").write(text)
PY
  log "recorded in SECURITY.md"
fi
[[ $OK == yes ]]
