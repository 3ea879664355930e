#!/bin/sh
# Entrypoint of the lottery image: picks the program for the role given as
# the container's command and replaces itself with it (exec), so that the
# program runs as PID 1 and receives the SIGTERM of `docker stop` directly.
#
#   server [FLAG...]    lottery-server --config $LOTTERY_SERVER_CONFIG FLAG...
#   agency [FLAG...]    lottery-client --config $LOTTERY_CLIENT_CONFIG FLAG...
#   client [FLAG...]    same as agency
#   gen-bets [FLAG...]  lottery-gen-bets FLAG... (makes agency bets files)
#   anything else       run as given (e.g. `lottery-client --ping`, `nc`, `sh`)
#
# The configuration files default to the ones in /etc/lottery; compose
# mounts the deployment's own over them. Environment variables (SERVER_*,
# CLI_*, LOGGING_LEVEL, ...) override the files, and flags override both.
set -eu

server_config="${LOTTERY_SERVER_CONFIG:-/etc/lottery/server.json}"
client_config="${LOTTERY_CLIENT_CONFIG:-/etc/lottery/client.json}"

if [ "$#" -eq 0 ]; then
  set -- server
fi

role="$1"
case "$role" in
  server)
    shift
    exec lottery-server --config "$server_config" "$@"
    ;;
  agency | client)
    shift
    exec lottery-client --config "$client_config" "$@"
    ;;
  gen-bets)
    shift
    exec lottery-gen-bets "$@"
    ;;
  *)
    exec "$@"
    ;;
esac
