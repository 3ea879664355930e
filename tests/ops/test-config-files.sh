#!/usr/bin/env bash
# Files an operator names that never end, are huge or nest too deep:
# /dev/zero, a file over the cap and JSON 100,000 levels deep as the
# server's --config, its auth.tokens and the client's --config and
# --tls-ca. Each program must stop at once with one line on stderr
# naming the file, status 2 (the CA file too: a bad setting like any),
# not crash or eat memory. Needs LOTTERY_SERVER and LOTTERY_CLIENT.
set -uo pipefail

work=$(mktemp -d "${TMPDIR:-/tmp}/lottery-files.XXXXXX")
trap 'rm -rf "$work"' EXIT
python3 -c 'import sys; sys.stdout.write("{\"a\": " + "[" * 100000 + "]" * 100000 + "}")' \
  >"$work/deep.json"
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$work/big.json"

n=0
failed=0
# check NAME WANT_STATUS FILE PROGRAM ARGS...: the line names FILE and
# says why (the memory limit would otherwise turn "read until memory
# runs out" into a quick allocation failure).
check() {
  local name="$1" want="$2" file="$3" out status lines why
  shift 3
  case "$file" in
    /dev/zero) why="not a regular file" ;;
    *deep*) why="nested more than" ;;
    *) why="larger than" ;;
  esac
  n=$((n + 1))
  # ulimit: a program that reads /dev/zero to the end fails here, fast
  # (not under AddressSanitizer, which reserves far more address space).
  out=$( (case "$(ldd "$1" 2>/dev/null)" in
            *libasan*) ;;
            *) ulimit -v 2000000 ;;
          esac
          timeout 20 "$@" 2>&1 >/dev/null) ); status=$?
  lines=$(printf '%s\n' "$out" | grep -c .)
  if [ "$status" -eq "$want" ] && [ "$lines" -eq 1 ] && [[ "$out" == *"$file"* ]] &&
     [[ "$out" == *"$why"* ]]; then
    echo "ok $n $name"
  else
    echo "not ok $n $name: status $status (want $want), $lines lines"
    printf '%s\n' "$out" | head -n 3 | cut -c 1-200 | sed 's/^/# /'
    failed=1
  fi
}

echo "1..9"
S="$LOTTERY_SERVER"
C="$LOTTERY_CLIENT"
check "server --config /dev/zero" 2 /dev/zero "$S" --config /dev/zero
check "server --config nested 100,000 deep" 2 "$work/deep.json" "$S" --config "$work/deep.json"
check "server --config of 2 MiB" 2 "$work/big.json" "$S" --config "$work/big.json"
check "server --auth-tokens /dev/zero" 2 /dev/zero "$S" --port 0 --auth-tokens /dev/zero
check "server --auth-tokens nested 100,000 deep" 2 "$work/deep.json" \
  "$S" --port 0 --auth-tokens "$work/deep.json"
check "client --config /dev/zero" 2 /dev/zero "$C" --config /dev/zero --ping
check "client --config nested 100,000 deep" 2 "$work/deep.json" \
  "$C" --config "$work/deep.json" --ping
check "client --tls-ca /dev/zero" 2 /dev/zero "$C" --tls-ca /dev/zero --ping
check "client --tls-ca of 2 MiB" 2 "$work/big.json" "$C" --tls-ca "$work/big.json" --ping
exit 0
