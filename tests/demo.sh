#!/usr/bin/env bash
# A local demo: installs what building needs if it is missing (as root;
# `.ci/install-deps demo`, not the test tools), builds, starts the
# central server and five agencies on generated sample data, and prints
# each agency's winners.
#
#   tests/demo.sh [BUILD_DIR]        (default: build)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$top/build"}
agencies=5
rows=20000

bash "$top/.ci/install-deps" demo
[ -d "$build" ] || meson setup "$build" "$top" >/dev/null
meson compile -C "$build" >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/lottery-demo.XXXXXX")
server_pid=
cleanup () {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  true
}
trap cleanup EXIT

echo "Demo data and logs: $work"
for i in $(seq 1 $agencies); do
  # Agency i has i - 1 winners, so each answer is easy to check.
  "$build/tests/tools/lottery-gen-bets" --rows $rows --seed "$i" \
    --winners $((i - 1)) --output "$work/agency-$i.csv"
done

"$build/src/server/lottery-server" --port 0 --agencies $agencies \
  --storage "$work/bets.csv" >"$work/server.log" 2>&1 &
server_pid=$!

port=
for _ in $(seq 1 50); do
  port=$(sed -n 's/.*accept_connections | result: in_progress | port: \([0-9]*\).*/\1/p' \
    "$work/server.log")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "the server did not start:"; cat "$work/server.log"; exit 1; }

pids=()
for i in $(seq 1 $agencies); do
  "$build/src/client/lottery-client" --id "$i" --server "127.0.0.1:$port" \
    --bets-file "$work/agency-$i.csv" >"$work/agency-$i.log" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done

for i in $(seq 1 $agencies); do
  winners=$(sed -n 's/.*action: ganador | result: success | dni: //p' "$work/agency-$i.log" | paste -sd ' ')
  count=$(sed -n 's/.*cant_ganadores: //p' "$work/agency-$i.log")
  printf 'Agency %d: %s winner(s)%s\n' "$i" "${count:-?}" "${winners:+ $winners}"
done
printf 'Bets stored: %s (in %s)\n' "$(wc -l <"$work/bets.csv")" "$work/bets.csv"

kill -TERM "$server_pid"
wait "$server_pid" || status=1
server_pid=
exit $status
