#!/usr/bin/env bash
# validate-server.sh: check that the lottery server of a compose deployment
# answers on its network, the way an agency would reach it.
#
# A throwaway container, attached to the server's compose network and
# running netcat from the lottery image, sends the protocol's PING frame
# (length 1, type 0x05: bytes 00 00 00 01 05) to server:12345 and expects
# the PONG frame (00 00 00 01 86). Prints exactly one line on stdout:
#
#   action: test_echo_server | result: success
#   action: test_echo_server | result: fail
#
# and exits 0 or 1 accordingly; the reason for a failure goes to stderr.
#
# Usage: docker/validate-server.sh [-f FILE]... [-p PROJECT] [--project-directory DIR]
#   The options select the deployment as they do for `docker compose`
#   (COMPOSE_FILE and COMPOSE_PROJECT_NAME work too). Run from the folder
#   of compose.yaml, none is needed.
#
# Environment: LOTTERY_SERVER_HOST (default server) and LOTTERY_SERVER_PORT
# (default 12345) say where the server listens on the compose network.
set -euo pipefail

readonly HOST="${LOTTERY_SERVER_HOST:-server}"
readonly PORT="${LOTTERY_SERVER_PORT:-12345}"
readonly PONG_HEX=0000000186
readonly TIMEOUT_S=5

fail() {
  echo "validate-server: $*" >&2
  echo "action: test_echo_server | result: fail"
  exit 1
}

compose_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -f | --file | -p | --project-name | --project-directory)
      [[ $# -ge 2 ]] || { echo "validate-server: $1 needs a value" >&2; exit 2; }
      compose_args+=("$1" "$2")
      shift 2
      ;;
    -h | --help)
      sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
      exit 0
      ;;
    *)
      echo "validate-server: unknown argument '$1'" >&2
      echo "usage: $0 [-f FILE]... [-p PROJECT] [--project-directory DIR]" >&2
      exit 2
      ;;
  esac
done

# Compose v2 (the docker CLI plugin) or v1 (docker-compose).
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
else
  fail "neither 'docker compose' nor 'docker-compose' is installed"
fi

# The server container, running or not: its network and image are all
# that is needed (a stopped server must give "fail" from netcat itself).
server_id=$("${compose[@]}" "${compose_args[@]}" ps -a -q server 2>/dev/null | head -n 1) ||
  fail "cannot list the compose services (is the engine running?)"
[[ -n "$server_id" ]] || fail "no server container in this compose project"

network=$(docker inspect --format \
            '{{range $name, $_ := .NetworkSettings.Networks}}{{$name}}{{"\n"}}{{end}}' \
            "$server_id" | head -n 1)
image=$(docker inspect --format '{{.Image}}' "$server_id")
[[ -n "$network" ]] || fail "the server container is on no network"

# nc -N closes its side after the frame, so the server answers and then
# sees the end of the stream; -w bounds a silent server.
reply=$(printf '\000\000\000\001\005' |
        timeout $(( TIMEOUT_S * 4 )) \
          docker run --rm -i --network "$network" --entrypoint nc "$image" \
            -N -w "$TIMEOUT_S" "$HOST" "$PORT" 2>/dev/null |
        od -An -v -tx1 | tr -d ' \n') || true

if [[ "$reply" == "$PONG_HEX" ]]; then
  echo "action: test_echo_server | result: success"
  exit 0
fi
fail "no PONG from $HOST:$PORT on network $network (got '${reply:-nothing}')"
