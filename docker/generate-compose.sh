#!/usr/bin/env bash
# generate-compose.sh: write a Docker Compose file for the lottery with one
# central server and N agencies, or with several servers over one
# PostgreSQL database.
#
# Usage: docker/generate-compose.sh OUTPUT N [--postgres [--servers S]]
#   OUTPUT      file to write ("-" for standard output); its folder must exist
#   N           number of agencies, a whole number from 0 to 1000 (0: the
#               server alone, for health checks and signal tests)
#   --postgres  keep the lottery in a PostgreSQL database (service
#               "postgres") instead of each server's bets.csv
#   --servers S S servers over that database, a whole number from 1 to 16
#               (default 1); only with --postgres, as servers share a
#               lottery only through the database
# The options may come before, between or after OUTPUT and N
# (`--servers=S` works too).
#
# The file is meant to live at the top of the source tree (relative paths
# in it are resolved from the project folder): `compose.yaml` is this
# script's output for N = 5. The output depends only on the arguments, so
# running the script twice gives the same bytes; without --postgres it is
# the same file as before that option existed.
#
# Then, from the top of the source tree, give every command a project name
# of its own, so that the deployment does not mix with compose.yaml's
# (Debian 12 ships compose v1: type `docker-compose` where this says
# `docker compose`):
#   docker/generate-compose.sh compose-20.yaml 20
#   docker compose -p lottery20 -f compose-20.yaml build
#   docker compose -p lottery20 -f compose-20.yaml up -d
#   docker/validate-server.sh -p lottery20 -f compose-20.yaml
#   docker compose -p lottery20 -f compose-20.yaml down
#
# What the file sets up:
#   - service "bets-data": a one-shot container of the same image that
#     writes the agencies' bets files missing from
#     ${LOTTERY_BETS_DIR:-./.data} (agency-I.csv, with I - 1 winners; see
#     `make-bets` in docker/entrypoint.sh) and exits; files already there
#     (e.g. from docker/make-data.sh) are kept;
#   - service "server": the image built from docker/Dockerfile, config
#     ./data/server.json mounted read-only and in charge of every setting
#     but one: SERVER_AGENCIES=N (none for N = 0, so the file's count
#     applies), as only the deployment knows N; bets.csv and its journal
#     in /var/lib/lottery on an anonymous volume, which a restarted or
#     recreated server keeps (it carries on its lottery) and `down`
#     leaves behind, so the next `up` starts a fresh lottery; a health
#     check that pings the server on port 12345, and a stop grace period
#     for its clean shutdown;
#   - services "agency1" .. "agencyN": the same image, the one config
#     ./data/client.json shared by all, mounted read-only, with each
#     agency's own deployment facts as environment overrides (CLI_ID, the
#     server's name on the network in CLI_SERVER_ADDRESS, CLI_BETS_FILE
#     where its file is mounted; everything else comes from the file),
#     and the bets file
#     ${LOTTERY_BETS_DIR:-./.data}/agency-I.csv mounted read-only; they
#     start once bets-data has finished and the server is healthy;
#   - the user network "lottery" that joins the server and the agencies.
#
# With --postgres (see docs/scaling-out.md, "Under Compose"):
#   - service "postgres": Debian 12's PostgreSQL, the image built from
#     docker/postgres.Dockerfile on the same base image
#     (${LOTTERY_POSTGRES_IMAGE:-lottery-postgres:latest}); its cluster,
#     made at its first start, in the named volume "postgres-data", which
#     `down` keeps (the next `up` carries on the same lottery: its
#     agencies are told their winners at once) and `down -v` deletes; a
#     health check with pg_isready. Authentication: "trust", without a
#     password, for the superuser "lottery" and the database "lottery",
#     from the container itself and from the networks it is on (pg_hba
#     "samenet"), that is the deployment's own network "lottery"; the
#     port 5432 is never published on the host. Anyone who can run a
#     container on that network can read and change the lottery;
#   - servers: "server" when S = 1 (so docker/validate-server.sh and
#     every command that names the service work as above), "server1" ..
#     "serverS" otherwise. Each has, besides SERVER_AGENCIES=N,
#     SERVER_STORAGE_BACKEND=postgresql, SERVER_STORAGE_DSN pointing at
#     the service "postgres" and SERVER_LOTTERY_NAME=default, so every
#     server works on the same lottery whatever its config file says;
#     no state volume (a server holds nothing of its own); it starts
#     once postgres is healthy (depends_on, condition service_healthy,
#     which compose v1 from 1.27 on honours in this file format);
#   - each agency's CLI_SERVER_ADDRESS lists every server, agency I's
#     starting at server ((I - 1) mod S) + 1 and going round, so the
#     agencies spread over the servers and each fails over to the next
#     when its server is lost; the agencies start once every server is
#     healthy.
set -euo pipefail

readonly MAX_AGENCIES=1000
readonly MAX_SERVERS=16
readonly PORT=12345
readonly PG_PORT=5432
# The database and its superuser, as docker/postgres-entrypoint.sh makes
# them, and the one lottery every server of the file works on.
readonly PG_DSN="host=postgres port=$PG_PORT user=lottery dbname=lottery"
readonly LOTTERY_NAME=default

usage() {
  echo "usage: $0 OUTPUT N [--postgres [--servers S]]"
  echo "       (N agencies, 0 <= N <= $MAX_AGENCIES; 1 <= S <= $MAX_SERVERS servers," \
       "only with --postgres; OUTPUT '-' for stdout)"
  echo "then:  docker compose -p PROJECT -f OUTPUT up -d   (compose v1: docker-compose)"
}

die() {
  echo "generate-compose: $*" >&2
  usage >&2
  exit 2
}

if [[ $# -eq 1 && ( $1 == -h || $1 == --help ) ]]; then
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
  exit 0
fi
postgres=false
servers=""
positional=()
while (( $# > 0 )); do
  case "$1" in
    --postgres) postgres=true ;;
    --servers)
      (( $# >= 2 )) || die "--servers needs a value"
      [[ -z "$servers" ]] || die "--servers given twice"
      servers="$2"
      shift
      ;;
    --servers=*)
      [[ -z "$servers" ]] || die "--servers given twice"
      servers="${1#--servers=}"
      ;;
    --) shift; positional+=("$@"); break ;;
    -?*) die "unknown option '$1'" ;;
    *) positional+=("$1") ;;
  esac
  shift
done
set -- "${positional[@]+"${positional[@]}"}"
[[ $# -eq 2 ]] || die "expected 2 arguments, got $#"

output="$1"
count="$2"

[[ -n "$output" ]] || die "OUTPUT is empty"
[[ "$count" =~ ^(0|[1-9][0-9]*)$ ]] ||
  die "N must be a whole number from 0 to $MAX_AGENCIES, got '$count'"
# Compare lengths first so a huge number cannot overflow the arithmetic.
if (( ${#count} > ${#MAX_AGENCIES} )) || (( count > MAX_AGENCIES )); then
  die "N must be at most $MAX_AGENCIES, got $count"
fi
if [[ -n "$servers" ]]; then
  [[ "$servers" =~ ^[1-9][0-9]*$ ]] ||
    die "S (--servers) must be a whole number from 1 to $MAX_SERVERS, got '$servers'"
  if (( ${#servers} > ${#MAX_SERVERS} )) || (( servers > MAX_SERVERS )); then
    die "S (--servers) must be at most $MAX_SERVERS, got $servers"
  fi
  $postgres || die "--servers needs --postgres: servers share one lottery only" \
    "through the PostgreSQL database (without it the file has its one server)"
else
  servers=1
fi
if [[ "$output" != - ]]; then
  [[ ! -d "$output" ]] || die "OUTPUT '$output' is a folder"
  [[ -d "$(dirname -- "$output")" ]] ||
    die "the folder of OUTPUT '$output' does not exist"
fi

# Name of server J of the S: "server" when there is one.
server_name() {
  if (( servers == 1 )); then echo server; else echo "server$1"; fi
}

# Agency I's CLI_SERVER_ADDRESS: every server, from server
# ((I - 1) mod S) + 1 on and round.
server_list() {
  local i="$1" k list=""
  for (( k = 0; k < servers; k++ )); do
    list+="${list:+,}$(server_name $(( (i - 1 + k) % servers + 1 ))):$PORT"
  done
  echo "$list"
}

classic_header() {
  local agencies=agencies

  (( count != 1 )) || agencies=agency
  cat <<EOF
# Lottery deployment: one central server and $count $agencies.
# Generated by \`docker/generate-compose.sh OUTPUT $count\`; edit that script,
# not this file.
#
# From the top of the source tree (Debian 12 ships compose v1: type
# \`docker-compose\` where this says \`docker compose\`):
#   docker/make-base-image.sh    only where no image registry is reachable
#   docker compose build         the lottery image
#   docker compose up -d         bets files first (service bets-data), then
#                                the server, the agencies once it is healthy
#   docker compose logs -f
#   docker/validate-server.sh    is the server answering on its network?
#   docker compose stop          SIGTERM: every program exits cleanly
#   docker compose down          the next \`up\` starts a fresh lottery
#                                (\`down -v\` also deletes the old state)
# For a file other than compose.yaml, give every command (validate-server.sh
# too) \`-p PROJECT -f FILE\`, with a project name of its own.
#
# The server listens on port $PORT: the health check and the agencies'
# CLI_SERVER_ADDRESS rely on it.

services:
EOF
}

postgres_header() {
  local agencies=agencies what="$servers central servers" validate listen

  (( count != 1 )) || agencies=agency
  if (( servers == 1 )); then
    what="one central server"
    validate="#   docker/validate-server.sh    is the server answering on its network?"
    listen="# The server listens on port $PORT: the health check and the agencies'"
  else
    validate="#   docker/validate-server.sh    is server1 answering on its network?
#                                (LOTTERY_SERVER_HOST=server2 for server2)"
    listen="# The servers server1 .. server$servers listen on port $PORT: the health
# checks and the agencies'"
  fi
  cat <<EOF
# Lottery deployment: $what over one PostgreSQL database and
# $count $agencies.
# Generated by \`docker/generate-compose.sh OUTPUT $count --postgres --servers $servers\`;
# edit that script, not this file.
#
# From the top of the source tree (Debian 12 ships compose v1: type
# \`docker-compose\` where this says \`docker compose\`):
#   docker/make-base-image.sh    only where no image registry is reachable
#   docker compose build         the lottery and the PostgreSQL images
#   docker compose up -d         bets files (service bets-data) and the
#                                database first, then the servers once it
#                                is healthy, the agencies once they are
#   docker compose logs -f
$validate
#   docker compose stop          SIGTERM: every program exits cleanly
#   docker compose down          the lottery stays in the volume postgres-data:
#                                the next \`up\` carries it on (\`down -v\`
#                                deletes it, and the next \`up\` starts afresh)
# For a file other than compose.yaml, give every command (validate-server.sh
# too) \`-p PROJECT -f FILE\`, with a project name of its own.
#
$listen
# CLI_SERVER_ADDRESS rely on it. The database trusts every connection
# from the network "lottery", without a password; its port $PG_PORT is
# not published on the host.

services:
EOF
}

postgres_service() {
  cat <<EOF
  postgres:
    build:
      context: docker
      dockerfile: postgres.Dockerfile
    image: \${LOTTERY_POSTGRES_IMAGE:-lottery-postgres:latest}
    volumes:
      # Named: kept across restarts, recreation and down; not across down -v.
      - postgres-data:/var/lib/postgresql/data
    networks:
      - lottery
    healthcheck:
      test: ["CMD", "pg_isready", "--quiet", "-h", "127.0.0.1", "-p", "$PG_PORT", "-U", "lottery", "-d", "lottery"]
      interval: 2s
      timeout: 5s
      retries: 30
      start_period: 5s
    # SIGINT, PostgreSQL's fast shutdown: open transactions are rolled
    # back, the rest is written out before it exits.
    stop_grace_period: 30s
    cap_drop:
      - ALL
    security_opt:
      - no-new-privileges:true

EOF
}

# A server of a --postgres file: NAME FIRST ("true" for the one that
# carries the build section).
postgres_server() {
  local name="$1" first="$2"

  echo "  $name:"
  if [[ "$first" == true ]]; then
    cat <<EOF
    build:
      context: .
      dockerfile: docker/Dockerfile
EOF
  fi
  cat <<EOF
    image: \${LOTTERY_IMAGE:-lottery:latest}
    command: ["server"]
    environment:
EOF
  if (( count > 0 )); then
    echo "      SERVER_AGENCIES: \"$count\""
  fi
  cat <<EOF
      # Every server on the same lottery of the same database, whatever
      # ./data/server.json says about storage.
      SERVER_STORAGE_BACKEND: postgresql
      SERVER_STORAGE_DSN: "$PG_DSN"
      SERVER_LOTTERY_NAME: "$LOTTERY_NAME"
    volumes:
      - ./data/server.json:/etc/lottery/server.json:ro
    networks:
      - lottery
    depends_on:
      postgres:
        condition: service_healthy
EOF
  server_tail
}

# What every server service ends with: its health check, its stop and
# its confinement.
server_tail() {
  cat <<EOF
    healthcheck:
      test: ["CMD", "lottery-client", "--ping", "--server", "127.0.0.1:$PORT"]
      interval: 2s
      timeout: 5s
      retries: 15
      start_period: 2s
    # On SIGTERM the server closes its listener and connections at once
    # and waits at most 0.5 s for batches being stored; this is
    # how long compose waits before SIGKILL.
    stop_grace_period: 15s
    read_only: true
    cap_drop:
      - ALL
    security_opt:
      - no-new-privileges:true
EOF
}

# The one server of a file without --postgres.
classic_server() {
  cat <<EOF
  server:
    build:
      context: .
      dockerfile: docker/Dockerfile
    image: \${LOTTERY_IMAGE:-lottery:latest}
    command: ["server"]
EOF
  # Only what the deployment alone knows; ./data/server.json sets the
  # rest, http.listen (metrics and the status page) included: on the
  # container's loopback as shipped, on the lottery network once the
  # file says 0.0.0.0:9090; never published on the host.
  if (( count > 0 )); then
    cat <<EOF
    environment:
      SERVER_AGENCIES: "$count"
EOF
  fi
  cat <<EOF
    volumes:
      - ./data/server.json:/etc/lottery/server.json:ro
      # Anonymous: kept across restarts and recreation, not across down.
      - /var/lib/lottery
    networks:
      - lottery
EOF
  server_tail

}

generate() {
  local i j address

  if $postgres; then
    postgres_header
  else
    classic_header
  fi

  if (( count > 0 )); then
    cat <<EOF
  bets-data:
    build:
      context: .
      dockerfile: docker/Dockerfile
    image: \${LOTTERY_IMAGE:-lottery:latest}
    # Writes the missing agency-1.csv .. agency-$count.csv, then exits.
    command: ["make-bets", "$count"]
    environment:
      LOTTERY_BETS_ROWS: "\${LOTTERY_BETS_ROWS:-1000}"
    # Root, as the engine makes a missing bets folder for root; the files
    # are world-readable and belong to the folder's owner.
    user: "0:0"
    network_mode: none
    volumes:
      - \${LOTTERY_BETS_DIR:-./.data}:/data
    read_only: true
    cap_drop:
      - ALL
    cap_add:
      - CHOWN
      - DAC_OVERRIDE
    security_opt:
      - no-new-privileges:true

EOF
  fi

  if $postgres; then
    postgres_service
    for (( j = 1; j <= servers; j++ )); do
      (( j == 1 )) || echo
      if (( j == 1 )); then
        postgres_server "$(server_name "$j")" true
      else
        postgres_server "$(server_name "$j")" false
      fi
    done
  else
    classic_server
  fi

  for (( i = 1; i <= count; i++ )); do
    if $postgres; then
      address=$(server_list "$i")
    else
      address="server:$PORT"
    fi
    cat <<EOF

  agency$i:
    image: \${LOTTERY_IMAGE:-lottery:latest}
    command: ["agency"]
    environment:
      CLI_ID: "$i"
      CLI_SERVER_ADDRESS: $address
      CLI_BETS_FILE: /data/agency.csv
    volumes:
      - ./data/client.json:/etc/lottery/client.json:ro
      - \${LOTTERY_BETS_DIR:-./.data}/agency-$i.csv:/data/agency.csv:ro
    networks:
      - lottery
    depends_on:
      bets-data:
        condition: service_completed_successfully
EOF
    for (( j = 1; j <= servers; j++ )); do
      cat <<EOF
      $(server_name "$j"):
        condition: service_healthy
EOF
    done
    cat <<EOF
    stop_grace_period: 10s
    read_only: true
    cap_drop:
      - ALL
    security_opt:
      - no-new-privileges:true
EOF
  done

  cat <<EOF

networks:
  lottery:
EOF
  if $postgres; then
    cat <<EOF

volumes:
  postgres-data:
EOF
  fi
}

if [[ "$output" == - ]]; then
  generate
else
  # Write next to the target and rename, so a failure never leaves a
  # half-written compose file behind.
  tmp=$(mktemp "$(dirname -- "$output")/.compose.XXXXXX")
  trap 'rm -f -- "$tmp"' EXIT
  generate >"$tmp"
  chmod 0644 "$tmp"
  mv -f -- "$tmp" "$output"
  trap - EXIT
fi
