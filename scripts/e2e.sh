#!/usr/bin/env bash
# Browser tests of the portal and console (`make e2e`, and the last step of `make test`):
# Playwright drives Debian's Chromium against a real `shiftwire serve` on a fresh database
# with the demo data of `shiftwire seed`; nurses sign in by SMS code through a capture server
# (e2e/sms-capture.mjs, the server's SMS webhook). Tests and their scenarios: e2e/README.md.
#
#   scripts/e2e.sh [PLAYWRIGHT ARGS...]   the suite (e.g. `scripts/e2e.sh -g "live board"`)
#   scripts/e2e.sh bench [BENCH ARGS...]  the portal benchmark instead (`make bench-portal`):
#                                         release build, e2e/bench-portal.mjs, results in
#                                         target/bench/portal.md
#
# Installs what is missing: Chromium with apt (Debian/Ubuntu, as root or with password-less
# sudo), the npm packages of e2e/ with `npm ci` (Playwright's own browser download is
# skipped). Needs Node.js 20 or later. E2E_BIN: a `shiftwire` binary to use instead of
# building one. Logs: target/e2e/ (server.log, sms.log, and Playwright's test-results in
# e2e/test-results/). Exits non-zero on any failure; both servers are always stopped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

LOG_TAG=e2e
# log, die, fresh_db, start_server, wait_ready, stop_server.
source scripts/lib.sh

MODE=test
if [[ ${1:-} == bench ]]; then
  MODE=bench
  shift
fi
DB=shiftwire_e2e
BIND=127.0.0.1:18190
BASE=http://$BIND
SMS_PORT=18191
SMS_URL=http://127.0.0.1:$SMS_PORT
OUT=target/e2e
CHROMIUM=${CHROMIUM_PATH:-/usr/bin/chromium}
mkdir -p "$OUT"

# --- tools ----------------------------------------------------------------------------------
# (psql and PostgreSQL itself: scripts/ensure-postgres.sh, through fresh_db.)
missing=()
command -v curl >/dev/null || missing+=(curl)
[[ -x $CHROMIUM ]] || missing+=(chromium fonts-liberation)
if ((${#missing[@]})); then
  apt_install "${missing[@]}" || die "missing ${missing[*]}: install them (Debian: apt-get install chromium)"
fi
[[ -x $CHROMIUM ]] || die "no Chromium at $CHROMIUM (set CHROMIUM_PATH)"
command -v node >/dev/null && command -v npm >/dev/null ||
  die "Node.js 20 or later and npm are needed for the browser tests"
node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= 20)) || die "Node.js $(node --version) is too old: Playwright needs 20 or later"
if [[ ! -d e2e/node_modules || e2e/package-lock.json -nt e2e/node_modules/.package-lock.json ]]; then
  log "npm ci in e2e/ (Playwright's browser download skipped: Debian's Chromium is used)"
  (cd e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund >&2)
fi

# --- database and binary --------------------------------------------------------------------
fresh_db "$DB"
E2E_URL=$DB_URL
TARGET=${CARGO_TARGET_DIR:-target}
if [[ -n ${E2E_BIN:-} ]]; then
  BIN=$E2E_BIN
elif [[ $MODE == bench ]]; then
  log "building the release binary"
  SQLX_OFFLINE=true cargo build --release --quiet --bin shiftwire
  BIN=$TARGET/release/shiftwire
else
  SQLX_OFFLINE=true cargo build --quiet --bin shiftwire
  BIN=$TARGET/debug/shiftwire
fi
[[ -x $BIN ]] || die "no shiftwire binary at $BIN"
# The seed uploads documents: into the store the server below reads (not data/documents).
rm -rf "$OUT/documents"
export DOCUMENT_DIR=$OUT/documents
DATABASE_URL=$E2E_URL "$BIN" migrate >/dev/null
DATABASE_URL=$E2E_URL RUST_LOG=warn "$BIN" seed >"$OUT/seed.txt"

# --- servers --------------------------------------------------------------------------------
SMS_PID=""
stop_all() {
  stop_server
  if [[ -n $SMS_PID ]]; then
    kill -TERM "$SMS_PID" 2>/dev/null || true
    wait "$SMS_PID" 2>/dev/null || true
    SMS_PID=""
  fi
}
trap stop_all EXIT

node e2e/sms-capture.mjs "$SMS_PORT" >"$OUT/sms.log" 2>&1 &
SMS_PID=$!
deadline=$((SECONDS + 10))
until curl --noproxy '*' -fsS -o /dev/null --max-time 1 "$SMS_URL/healthz" 2>/dev/null; do
  kill -0 "$SMS_PID" 2>/dev/null || die "the SMS capture server exited (port $SMS_PORT taken?); see $OUT/sms.log"
  ((SECONDS < deadline)) || die "the SMS capture server did not answer within 10 s"
  sleep 0.1
done

if [[ $MODE == bench ]]; then SERVER_LOG_LEVEL=warn; else SERVER_LOG_LEVEL=${RUST_LOG:-info}; fi
# Per-IP limits raised: every test's browser and nurse comes from 127.0.0.1 (the limits
# themselves are tested in crates/api/tests).
start_server "$BIN" "$OUT/server.log" DATABASE_URL="$E2E_URL" BIND_ADDR="$BIND" RUST_LOG="$SERVER_LOG_LEVEL" \
  SMS_PROVIDER=webhook SMS_WEBHOOK_URL="$SMS_URL/sms" DOCUMENT_DIR="$DOCUMENT_DIR" \
  OTP_SENDS_PER_PHONE=1000 OTP_SENDS_PER_IP_PER_HOUR=100000 OTP_SENDS_PER_PREFIX_PER_HOUR=100000 \
  OTP_SENDS_PER_HOUR=100000 OTP_VERIFY_ATTEMPTS_PER_IP_PER_MINUTE=100000 \
  LOGIN_ATTEMPTS_PER_IP_PER_MINUTE=100000 REFRESHES_PER_IP_PER_MINUTE=100000 \
  METRICS_ADDR=off -- --no-migrate
wait_ready "$BASE" 30

export E2E_BASE_URL=$BASE E2E_SMS_URL=$SMS_URL CHROMIUM_PATH=$CHROMIUM
status=0
if [[ $MODE == bench ]]; then
  if [[ -n ${E2E_BIN:-} ]]; then BENCH_SERVER="E2E_BIN=$E2E_BIN"; else BENCH_SERVER="release build"; fi
  BENCH_COMMAND="make bench-portal${*:+ ARGS=\"$*\"}" BENCH_SERVER=$BENCH_SERVER \
    node e2e/bench-portal.mjs --out target/bench/portal.md "$@" || status=$?
else
  log "running the browser tests against $BASE (Chromium: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM"))"
  (cd e2e && npx --no-install playwright test "$@") || status=$?
  if grep -qiE 'panicked' "$OUT/server.log"; then
    log "the server panicked: see $OUT/server.log"
    status=1
  fi
fi
((status == 0)) || log "FAILED (exit $status); server log: $OUT/server.log"
exit "$status"
