#!/usr/bin/env bash
# Runs each libFuzzer target for SECONDS, starting from a scratch copy of
# its seed corpus so that the committed corpus never grows. Exits non-zero
# on any crash, leak, sanitizer report or timeout, after printing the
# path of the input that caused it (kept under BUILD_DIR/fuzz-artifacts).
#
#   tests/fuzz/run.sh BUILD_DIR SECONDS
#
# BUILD_DIR is configured with CC=clang and -Dfuzzing=true; the targets
# are built first if needed.
set -euo pipefail

if [ $# -ne 2 ] || ! [[ $2 =~ ^[1-9][0-9]*$ ]]; then
  echo "Usage: $0 BUILD_DIR SECONDS" >&2
  exit 2
fi
build=$1
seconds=$2
here=$(cd "$(dirname "$0")" && pwd)

meson compile -C "$build" fuzz-message fuzz-row

artifacts=$(cd "$build" && pwd)/fuzz-artifacts
mkdir -p "$artifacts"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/lottery-fuzz-XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# GSlice (GLib 2.74) keeps freed blocks for reuse, which would hide
# leaks and use-after-free from AddressSanitizer.
export G_SLICE=always-malloc
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

# target max_len: a whole frame and a little more; a few bets.csv rows.
targets=("message 8196" "row 4096")
failed=0

for entry in "${targets[@]}"; do
  read -r name max_len <<<"$entry"
  corpus=$scratch/$name
  log=$artifacts/fuzz-$name.log
  cp -r "$here/corpus/$name" "$corpus"

  status=0
  "$build/tests/fuzz/fuzz-$name" "$corpus" \
    -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$name-" \
    >"$log" 2>&1 || status=$?

  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  # A crash ends the run before the final stats: take the last status.
  [ -n "$runs" ] || runs=$(sed -n 's/^#\([0-9]*\)[[:space:]].*/\1/p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  units=$(find "$corpus" -type f | wc -l)
  if [ "$status" -eq 0 ]; then
    echo "fuzz-$name: ${runs:-?} executions in ${seconds} s" \
         "(${rate:-?}/s), corpus $units inputs: ok"
  else
    failed=1
    echo "fuzz-$name: FAILED (exit $status) after ${runs:-?} executions;" \
         "log $log"
    # The report's first lines, then the end of the log.
    grep -E 'ERROR:|SUMMARY:|runtime error:|-ERROR \*\*|-CRITICAL \*\*' \
      "$log" | head -n 5 | sed 's/^/  /' || true
    echo "  ..."
    tail -n 15 "$log" | sed 's/^/  /'
    grep -h 'Test unit written to' "$log" | sed 's/^.*written to /  input: /' ||
      true
  fi
done

exit "$failed"
