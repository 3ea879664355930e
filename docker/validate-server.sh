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
# and exits 0 or 1 accordingly (2, with the fail line, for bad arguments);
# the reason for a failure, and what netcat or the engine said, go to
# stderr. The server logs the PING as an accepted connection, like its
# health checks.
#
# Usage: docker/validate-server.sh [-f FILE]... [-p PROJECT] [--project-directory DIR]
#   The options select the deployment as they do for `docker compose`
#   (COMPOSE_FILE and COMPOSE_PROJECT_NAME work too). Run from the folder
#   of compose.yaml, none is needed; for a deployment of another compose
#   file give the same -p PROJECT -f FILE as to its other commands.
#
# Environment: LOTTERY_SERVER_HOST (default server) and LOTTERY_SERVER_PORT
# (default 12345) say where the server listens on the compose network;
# the host is also the server's service name (server1, server2, ... in a
# file of several servers, from generate-compose.sh --postgres --servers).
set -euo pipefail

readonly HOST="${LOTTERY_SERVER_HOST:-server}"
readonly PORT="${LOTTERY_SERVER_PORT:-12345}"
readonly PONG_HEX=0000000186
readonly TIMEOUT_S=5

# Exactly one result line, whatever happens: if the script ends without
# having printed one (an unexpected error), the EXIT trap prints "fail".
result_printed=false
result() {
  echo "action: test_echo_server | result: $1"
  result_printed=true
}
trap '$result_printed || result fail' EXIT

fail() {
  echo "validate-server: $*" >&2
  result fail
  exit 1
}

usage_error() {
  echo "validate-server: $*" >&2
  echo "usage: $0 [-f FILE]... [-p PROJECT] [--project-directory DIR]" >&2
  result fail
  exit 2
}

compose_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -f | --file | -p | --project-name | --project-directory)
      [[ $# -ge 2 ]] || usage_error "$1 needs a value"
      compose_args+=("$1" "$2")
      shift 2
      ;;
    -h | --help)
      result_printed=true
      sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
      exit 0
      ;;
    *)
      usage_error "unknown argument '$1'"
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
compose_err=$(mktemp)
trap 'rm -f -- "$compose_err"; $result_printed || result fail' EXIT
server_id=$("${compose[@]}" "${compose_args[@]}" ps -a -q "$HOST" 2>"$compose_err" | head -n 1) ||
  fail "cannot list the compose services (is the engine running?):" \
       "$(tail -n 1 "$compose_err")"
[[ -n "$server_id" ]] || fail "no $HOST container in this compose project"

networks=$(docker inspect --format \
             '{{range $name, $_ := .NetworkSettings.Networks}}{{$name}}{{"\n"}}{{end}}' \
             "$server_id") ||
  fail "cannot inspect the server container $server_id"
network=$(head -n 1 <<<"$networks")
image=$(docker inspect --format '{{.Image}}' "$server_id") ||
  fail "cannot inspect the server container $server_id"
[[ -n "$network" ]] || fail "the server container is on no network"

# nc -N closes its side after the frame, so the server answers and then
# sees the end of the stream; -w bounds a silent server. What netcat (or
# the engine) says goes to stderr, next to the reason for a failure.
reply=$(printf '\000\000\000\001\005' |
        timeout $(( TIMEOUT_S * 4 )) \
          docker run --rm -i --network "$network" --entrypoint nc "$image" \
            -N -w "$TIMEOUT_S" "$HOST" "$PORT" |
        od -An -v -tx1 | tr -d ' \n') || true

if [[ "$reply" == "$PONG_HEX" ]]; then
  result success
  exit 0
fi
fail "no PONG from $HOST:$PORT on network $network (got '${reply:-nothing}')"
