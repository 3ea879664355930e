#!/bin/sh
# Entrypoint of the lottery image: picks the program for the role given as
# the container's command and replaces itself with it (exec), so that the
# program runs as PID 1 and receives the SIGTERM of `docker stop` directly.
#
#   server [FLAG...]    lottery-server --config $LOTTERY_SERVER_CONFIG FLAG...
#   -FLAG...            same as server (e.g. `--agencies 3`)
#   agency [FLAG...]    lottery-client --config $LOTTERY_CLIENT_CONFIG FLAG...
#   client [FLAG...]    same as agency
#   gen-bets [FLAG...]  lottery-gen-bets FLAG... (writes one agency bets file)
#   make-bets N         writes the bets files /data/agency-1.csv ..
#                       /data/agency-N.csv that are missing or empty, with
#                       known winners: agency i's file is made with seed i
#                       and holds exactly i - 1 winning bets (at most all
#                       of its rows). $LOTTERY_BETS_ROWS (default 1000) rows
#                       each. Every file is written to a temporary name and
#                       renamed, so a file is either whole or absent, and
#                       ends world-readable (the agencies run unprivileged).
#   anything else       run as given (e.g. `lottery-client --ping`, `nc`, `sh`)
#
# The configuration files default to the ones in /etc/lottery; compose
# mounts the deployment's own over them. Environment variables (SERVER_*,
# CLI_*, LOGGING_LEVEL, ...) override the files, and flags override both.
set -eu

server_config="${LOTTERY_SERVER_CONFIG:-/etc/lottery/server.json}"
client_config="${LOTTERY_CLIENT_CONFIG:-/etc/lottery/client.json}"
bets_dir="${LOTTERY_BETS_DATA_DIR:-/data}"

make_bets_die() {
  echo "make-bets: $*" >&2
  exit 1
}

# make-bets N: see above.
make_bets() {
  [ "$#" -eq 1 ] || make_bets_die "usage: make-bets N (1 <= N <= 1000)"
  count="$1"
  rows="${LOTTERY_BETS_ROWS:-1000}"
  case "$count" in
    "" | 0* | *[!0-9]*) make_bets_die "N must be a whole number from 1 to 1000, got '$count'" ;;
  esac
  if [ "${#count}" -gt 4 ] || [ "$count" -gt 1000 ]; then
    make_bets_die "N must be a whole number from 1 to 1000, got '$count'"
  fi
  case "$rows" in
    "" | *[!0-9]*) make_bets_die "LOTTERY_BETS_ROWS must be a whole number, got '$rows'" ;;
  esac
  [ "${#rows}" -le 9 ] || make_bets_die "LOTTERY_BETS_ROWS is too large: '$rows'"
  [ -d "$bets_dir" ] || make_bets_die "$bets_dir is not a folder (mount the bets folder there)"

  # Folders where files should be are made by the engine when a missing
  # file is mounted; nothing is written while one is there.
  folders=""
  i=1
  while [ "$i" -le "$count" ]; do
    [ ! -d "$bets_dir/agency-$i.csv" ] || folders="$folders agency-$i.csv"
    i=$((i + 1))
  done
  [ -z "$folders" ] ||
    make_bets_die "folders where bets files should be, in the bets folder:$folders" \
      "(the engine makes them when a missing file is mounted): remove them and retry"

  made=0
  kept=0
  i=1
  while [ "$i" -le "$count" ]; do
    file="$bets_dir/agency-$i.csv"
    if [ -s "$file" ]; then
      kept=$((kept + 1))
    else
      winners=$((i - 1))
      [ "$winners" -le "$rows" ] || winners="$rows"
      tmp="$bets_dir/.agency-$i.csv.tmp"
      if ! lottery-gen-bets --rows "$rows" --seed "$i" --winners "$winners" \
             --output "$tmp" || ! chmod 0644 "$tmp"; then
        rm -f -- "$tmp"
        make_bets_die "cannot write $file"
      fi
      # The file belongs to whoever owns the folder (when allowed to).
      chown --reference="$bets_dir" -- "$tmp" 2>/dev/null || true
      if ! mv -f -- "$tmp" "$file"; then
        rm -f -- "$tmp"
        make_bets_die "cannot write $file"
      fi
      made=$((made + 1))
    fi
    i=$((i + 1))
  done
  files="files"
  [ "$made" -ne 1 ] || files="file"
  echo "make-bets: wrote $made bets $files of $rows rows, kept $kept, in $bets_dir"
}

if [ "$#" -eq 0 ]; then
  set -- server
fi

role="$1"
case "$role" in
  server)
    shift
    exec lottery-server --config "$server_config" "$@"
    ;;
  -*)
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
  make-bets)
    shift
    make_bets "$@"
    ;;
  *)
    exec "$@"
    ;;
esac
