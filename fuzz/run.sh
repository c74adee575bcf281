#!/usr/bin/env bash
# Runs every fuzz target for FUZZ_SECONDS (default 60) and records what happened; called
# by `make fuzz`, see fuzz/README.md.
#
# - Built on the stable toolchain with sanitizer `none`: then cargo-fuzz passes only stable
#   flags (-Cpasses=sancov-module, -Cllvm-args=...), so no RUSTC_BOOTSTRAP is needed. The
#   fuzzed code forbids `unsafe`, so AddressSanitizer would find nothing more and only cut
#   the executions about 3x; panics, failed assertions and integer overflow (debug
#   assertions are on) are what we look for. FUZZ_SANITIZER=address works too: it needs
#   -Zsanitizer, so then RUSTC_BOOTSTRAP=1 is set (stable ships the ASan runtime).
# - The committed corpus fuzz/corpus/<target>/ is read, never written: libFuzzer writes new
#   inputs to the first corpus directory, here a scratch one in fuzz/target/corpus/<target>/.
# - Crash inputs go to fuzz/artifacts/<target>/, logs to fuzz/target/logs/<target>.log.
# - Prints a summary table (target, seconds, executions, crashes), writes it to
#   target/fuzz-summary.md, and exits non-zero if any target crashed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root/fuzz"

seconds=${FUZZ_SECONDS:-60}
sanitizer=${FUZZ_SANITIZER:-none}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
  echo "FUZZ_SECONDS must be a positive whole number of seconds, not '$seconds'" >&2
  exit 2
fi
if [[ -n ${FUZZ_TARGETS:-} ]]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  targets=(ws_client_message phone_normalisation document_sniffing problem_mapping)
fi

# A sanitizer is a -Z flag, which the stable compiler takes only with RUSTC_BOOTSTRAP=1.
# Not set for `none`: it would also switch on nightly code paths in the build scripts of
# anyhow, proc-macro2 and thiserror (and rebuild everything when it changes).
if [[ $sanitizer != none ]]; then
  export RUSTC_BOOTSTRAP=1
else
  unset RUSTC_BOOTSTRAP
fi
# The domain crates use sqlx's offline query data.
export SQLX_OFFLINE=true
export SQLX_OFFLINE_DIR="$root/.sqlx"

echo "building fuzz targets (sanitizer: $sanitizer)"
cargo fuzz build -s "$sanitizer"
# The binaries just built are run directly rather than through `cargo fuzz run`, so what
# runs is what was built (no rebuild if the source changes meanwhile) and the seconds
# measured are fuzzing only.
bin_dir="target/$(rustc -vV | sed -n 's/^host: //p')/release"

mkdir -p target/logs "$root/target"
rows=()
crashed=()
for t in "${targets[@]}"; do
  scratch="target/corpus/$t"
  log="target/logs/$t.log"
  rm -rf "$scratch"
  mkdir -p "$scratch" "artifacts/$t"
  echo "fuzzing $t for ${seconds}s"
  start=$(date +%s)
  status=0
  # -timeout: one input running over 10 s counts as a crash (a hang). -max_len stays
  # libFuzzer's default (4 KiB, the WebSocket message limit).
  "$bin_dir/$t" -artifact_prefix="artifacts/$t/" -max_total_time="$seconds" \
    -print_final_stats=1 -timeout=10 "$scratch" "corpus/$t" >"$log" 2>&1 || status=$?
  elapsed=$(($(date +%s) - start))

  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -n1 | grep -o '[0-9]*$' || true)
  if [[ -z $execs ]]; then
    # No final stats (e.g. killed): the last progress line "#N ..." is a lower bound.
    execs=$(grep -o '^#[0-9]*' "$log" | tail -n1 | tr -d '#' || true)
  fi
  crashes=0
  if ((status != 0)) || grep -q -E '^==[0-9]+== ERROR: libFuzzer|^SUMMARY: libFuzzer' "$log"; then
    crashes=1
    artifact=$(grep -o -E 'Test unit written to [^ ]+' "$log" | tail -n1 | sed 's/^Test unit written to //' || true)
    why=$(grep -m1 -E "panicked at|ERROR: libFuzzer" -A1 "$log" | tr '\n' ' ' | cut -c1-300 || true)
    saved=${artifact:+fuzz/$artifact}
    crashed+=("$t: ${saved:-no input saved} (exit status $status, log fuzz/$log): ${why:-see the log}")
  fi
  rows+=("| $t | $elapsed | ${execs:-?} | $crashes |")
  echo "  $t: ${execs:-?} executions, $crashes crash(es)"
done

summary="$root/target/fuzz-summary.md"
{
  echo "# Fuzzing summary"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), FUZZ_SECONDS=$seconds, sanitizer $sanitizer, $(rustc --version)"
  echo
  echo "| target | seconds | executions | crashes |"
  echo "|---|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
  if ((${#crashed[@]})); then
    echo
    echo "Crashes (reproduce in fuzz/: ${RUSTC_BOOTSTRAP:+RUSTC_BOOTSTRAP=1 }SQLX_OFFLINE=true cargo fuzz run -s $sanitizer <target> artifacts/<target>/<file>):"
    echo
    printf -- '- %s\n' "${crashed[@]}"
  fi
} >"$summary"

echo
cat "$summary"
echo
echo "written to ${summary#"$root"/}"
if ((${#crashed[@]})); then
  exit 1
fi
