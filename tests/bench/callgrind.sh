#!/usr/bin/env bash
# Instructions per bet on the data path, counted by callgrind: the same
# figures whatever else the machine is doing. Startup is taken out by
# subtracting a run over an empty input.
#
#   tests/bench/callgrind.sh [BUILD_DIR] [ROWS]     (default: build 100000)
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
rows=${2:-100000}
codec="$build/tests/bench/bench-codec"
gen="$build/tests/tools/lottery-gen-bets"
work=$(mktemp -d "${TMPDIR:-/tmp}/lottery-callgrind.XXXXXX")
trap 'rm -rf "$work"' EXIT

command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is not installed" >&2; exit 77; }

"$gen" --rows "$rows" --seed 42 --output "$work/bets.csv"
: >"$work/empty.csv"

# Total instructions (Ir) of one run.
count () {
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$@" >/dev/null 2>"$work/cg.log"
  sed -n 's/^==[0-9]*== Collected : //p' "$work/cg.log"
}

enc_full=$(count "$codec" encode "$work/bets.csv" "$work/frames.bin")
enc_base=$(count "$codec" encode "$work/empty.csv" "$work/empty.bin")
dec_full=$(count "$codec" decode "$work/frames.bin" "$work/rows.csv")
dec_base=$(count "$codec" decode "$work/empty.bin" "$work/empty-rows.csv")

printf '| path | instructions per bet (%s rows) |\n|---|---|\n' "$rows"
printf '| client: parse + validate + encode | %s |\n' $(( (enc_full - enc_base) / rows ))
printf '| server: decode + validate + CSV row | %s |\n' $(( (dec_full - dec_base) / rows ))
