#!/usr/bin/env bash
# The `recheck` benchmark's load (run by scripts/bench.sh recheck, which prepared the
# approved licences and started the server): makes every approved licence due for its
# registry re-check at once, then waits until the running server has re-checked them all,
# and reports records per second. The server's and PostgreSQL's CPU during this step are
# measured around it by bench.sh.
#
# Usage: scripts/recheck-drive.sh DATABASE_URL [--json-out F] [--markdown-out F]
set -euo pipefail
url=$1
shift
json_out="" markdown_out=""
while (($#)); do
  case $1 in
    --json-out) json_out=$2; shift 2 ;;
    --markdown-out) markdown_out=$2; shift 2 ;;
    *) echo "recheck-drive: unknown argument $1" >&2; exit 2 ;;
  esac
done
# The SQL, one file per step (bench only: it writes straight into the tables).
SQL=$(dirname "${BASH_SOURCE[0]}")/../crates/test-support/sql/bench
# Stops at the first error: psql -f would otherwise go on and exit 0.
psql_q() { psql -X "$url" -At -q -v ON_ERROR_STOP=1 "$@"; }

# How many approved licences there are to re-check and the time just before they are made
# due (re-checks at or after it are this run's), tab-separated; then makes them all due.
# (All of psql's output first: the clock below must not start before the UPDATE commits.)
due=$(psql_q -F $'\t' -f "$SQL/recheck-make-due.sql")
IFS=$'\t' read -r total started <<<"$due"
((total > 0)) || { echo "recheck-drive: no approved licences to re-check" >&2; exit 1; }
# Timed from the commit that made them due: nothing could be re-checked before it.
t0=$(date +%s.%N)
deadline=$(($(date +%s) + 900))
done=0
while :; do
  done=$(psql_q -v started="$started" -f "$SQL/recheck-progress.sql")
  ((done >= total)) && break
  (($(date +%s) < deadline)) || { echo "recheck-drive: only $done of $total re-checked within 15 minutes" >&2; exit 1; }
  sleep 0.1
done
t1=$(date +%s.%N)
read -r flagged renewed < <(psql_q -F ' ' -v started="$started" -f "$SQL/recheck-outcome.sql")
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
rate=$(awk -v n="$total" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
echo "recheck-drive: $total licences re-checked in $secs s ($rate per second); $flagged flagged, $renewed renewed" >&2

if [[ -n $json_out ]]; then
  printf '{"scenario":"recheck","licences":%d,"seconds":%s,"per_second":%d,"flagged":%d,"renewed":%d}\n' \
    "$total" "$secs" "$rate" "$flagged" "$renewed" >"$json_out"
fi
if [[ -n $markdown_out ]]; then
  {
    echo "| measure | result |"
    echo "|---|---:|"
    echo "| approved licences made due at once | $total |"
    echo "| time until every one was re-checked (polled every 100 ms) | $secs s |"
    echo "| re-check throughput | **$rate licences/s** |"
    echo "| flagged (\`registry_changed\`) / renewed | $flagged / $renewed |"
  } >"$markdown_out"
fi
