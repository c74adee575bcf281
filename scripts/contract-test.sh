#!/usr/bin/env bash
# Contract fuzzing (part of `make test`): Schemathesis generates requests from the served
# OpenAPI document and checks every answer against it (all checks: no server errors,
# documented status codes, content types, headers and schemas, negative data rejected,
# ...), signed in as each role in turn, against a real server on a fresh database.
#
# Installs Schemathesis from PyPI (into target/contract-venv) when it is missing.
# CONTRACT_EXAMPLES sets the examples per operation (default 25).
# Results: target/contract/<role>.txt, and a summary printed at the end; exits non-zero
# on any failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'contract: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

DB=shiftwire_contract
BIND=127.0.0.1:18095
BASE=http://$BIND
OUT=target/contract
EXAMPLES=${CONTRACT_EXAMPLES:-25}
VENV=target/contract-venv
SCHEMATHESIS_VERSION=4.32.5
mkdir -p "$OUT"

if [[ -x $VENV/bin/st ]] && "$VENV/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  :
else
  log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (apt-get install python3-venv)"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
ST=$VENV/bin/st

DBURL=$(bash scripts/ensure-postgres.sh | tail -n1 | sed 's/^DATABASE_URL=//')
[[ $DBURL =~ ^(postgres(ql)?://[^/?]*)(/([^?]*))?(\?.*)?$ ]] || die "not a postgres:// URL"
ADMIN_URL="${BASH_REMATCH[1]}/postgres${BASH_REMATCH[5]}"
CONTRACT_URL="${BASH_REMATCH[1]}/$DB${BASH_REMATCH[5]}"
psql -X "$ADMIN_URL" -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
psql -X "$CONTRACT_URL" -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION IF NOT EXISTS postgis" -c "CREATE EXTENSION IF NOT EXISTS btree_gist"

SQLX_OFFLINE=true cargo build --quiet --bin shiftwire
BIN=${CARGO_TARGET_DIR:-target}/debug/shiftwire
DATABASE_URL=$CONTRACT_URL "$BIN" migrate >/dev/null
DATABASE_URL=$CONTRACT_URL RUST_LOG=warn "$BIN" seed >/dev/null
DATABASE_URL=$CONTRACT_URL RUST_LOG=warn "$BIN" seed --scale 200 --facilities 4 --nurses 20 \
  --tokens-out "$OUT/tokens.tsv" >/dev/null

SERVER_PID=
trap '[[ -n $SERVER_PID ]] && kill $SERVER_PID 2>/dev/null || true' EXIT
# Generous limits: the fuzzer is one client sending thousands of requests; the limits
# themselves are tested in crates/api/tests.
DATABASE_URL=$CONTRACT_URL BIND_ADDR=$BIND RUST_LOG=warn DOCUMENT_DIR=$OUT/documents \
  OTP_SENDS_PER_PHONE=1000000 OTP_SENDS_PER_IP_PER_HOUR=1000000 OTP_SENDS_PER_PREFIX_PER_HOUR=1000000 \
  OTP_SENDS_PER_HOUR=1000000 OTP_VERIFY_ATTEMPTS_PER_IP_PER_MINUTE=1000000 \
  LOGIN_ATTEMPTS_PER_IP_PER_MINUTE=1000000 REFRESHES_PER_IP_PER_MINUTE=1000000 \
  LOGIN_FAILURES_BEFORE_BACKOFF=1000000 \
  "$BIN" serve --no-migrate >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
  curl -sf "$BASE/readyz" >/dev/null && break
  sleep 0.1
done
curl -sf "$BASE/readyz" >/dev/null || die "the server did not become ready"

login() {
  curl -sf "$BASE/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"shiftwire-demo-2026\"}" | jq -r .access_token
}
declare -A TOKENS
TOKENS[anonymous]=
TOKENS[nurse]=$(head -n1 "$OUT/tokens.tsv" | cut -f2)
TOKENS[scheduler]=$(login scheduler@mercy-general.example)
TOKENS[verifier]=$(login verifier@shiftwire.example)
TOKENS[admin]=$(login admin@shiftwire.example)

FAILED=0
SUMMARY=$OUT/summary.md
{
  echo "| profile | operations | examples per operation | result |"
  echo "| --- | ---: | ---: | --- |"
} >"$SUMMARY"
for role in anonymous nurse scheduler verifier admin; do
  token=${TOKENS[$role]}
  log "schemathesis as $role"
  args=(run "$BASE/openapi.json" --checks all --max-examples "$EXAMPLES"
    --generation-deterministic --suppress-health-check all --max-failures 50
    --report junit --report-junit-path "$OUT/$role.xml")
  [[ -n $token ]] && args+=(-H "Authorization: Bearer $token")
  if "$ST" "${args[@]}" >"$OUT/$role.txt" 2>&1; then
    result=passed
  else
    result="**failed** (target/contract/$role.txt)"
    FAILED=1
  fi
  operations=$(grep -Eo '[0-9]+ (passed|failed|skipped|errored)' "$OUT/$role.txt" | paste -sd, - || true)
  echo "| $role | ${operations:-?} | $EXAMPLES | $result |" >>"$SUMMARY"
  tail -n 5 "$OUT/$role.txt" >&2
done
cat "$SUMMARY"
if grep -qiE 'panicked|internal' "$OUT/server.log"; then
  log "the server logged internal errors: see $OUT/server.log"
  FAILED=1
fi
exit $FAILED
