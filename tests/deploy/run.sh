#!/usr/bin/env bash
# tests/deploy/run.sh: end-to-end test of the Docker Compose deployment on a
# real Docker engine.
#
# Usage: tests/deploy/run.sh [--quick]
#   --quick  skip the N = 1 and N = 10 deployments (the N = 5 one from
#            compose.yaml and the N = 3 one always run)
#
# What it does, in order:
#   1. waits for any other run of this test on the machine to end (a lock
#      file), then uses the running Docker engine, or starts dockerd
#      itself (as root) and stops it again, by its PID, at the end;
#   2. makes the debian:bookworm-slim base image if missing
#      (docker/make-base-image.sh, cached tarball), builds the build stage
#      of docker/Dockerfile (which runs the unit tests; kept as the cache
#      of the next run), then the image with `compose build`, as README
#      says, and prunes the untagged lottery images of earlier builds;
#   3. checks the image (non-root user, no build tools, entrypoint roles)
#      and docker/generate-compose.sh (compose.yaml is its output for
#      N = 5, output is deterministic, bad arguments are rejected), and
#      that a folder where a bets file should be is reported;
#   4. a fresh clone: a plain `up -d` of compose.yaml with no bets folder
#      at all; the bets-data service writes the files (agency i has i - 1
#      winners) and every agency exits 0 with its winners;
#   5. brings up compose.yaml (server + 5 agencies) with bets files from
#      docker/make-data.sh whose winners are known, waits for the agencies
#      to exit and checks each agency's winners, the server's
#      apuesta_recibida totals and bets.csv on the volume; runs
#      docker/validate-server.sh (success), stops the deployment (exit
#      codes 0, closing log lines), runs validate-server.sh again (fail)
#      and removes everything (down -v);
#   6. the course's flow with generate-compose.sh's output for N = 2: up
#      -d, the lottery, the server killed and restarted then recreated
#      (it keeps bets.csv), `down` WITHOUT -v and `up` again (a fresh
#      lottery: every bet received and stored once, one draw);
#      also: N = 0 (server alone) is valid, generated files set no
#      environment variable the mounted configs are meant to set, and a
#      server and an agency in two containers speak TLS;
#   6b. the same as 5 with generate-compose.sh's output for N = 3 (and 1
#      and 10);
#   7. stops a deployment whose agencies are still waiting for the draw, to
#      check that the agencies too exit 0 on SIGTERM;
#   8. two servers over one PostgreSQL database (generate-compose.sh N = 5
#      --postgres --servers 2, the database image built by `compose
#      build postgres`), the agencies uploading one bet per batch: server1
#      killed (SIGKILL) once a fifth of the bets are stored, while one of
#      its agencies is still uploading; every agency exits 0 with its
#      winners, and the database holds every bet once and each agency's
#      winners (psql in the postgres container).
#
# Every container, network and volume it creates is removed at the end
# (compose projects are named lotterydeploytest<PID>...); the images (base,
# lottery, build cache, database) are kept for the next run.
#
# Exit status: 0 every check passed, 1 a check failed, 2 bad usage,
# 77 skipped: no Docker engine could be had (said in one line).
#
# Environment: LOTTERY_IMAGE (default lottery:latest) is the image tag to
# build and test (its build stage is kept as lottery-build:latest, the
# cache of the next build); LOTTERY_POSTGRES_IMAGE (default
# lottery-postgres:latest, after LOTTERY_IMAGE's name) the database
# image; LOTTERY_COMPOSE forces the compose command (for
# example "docker-compose"); LOTTERY_DEPLOY_LOCK is the lock file (default
# /tmp/lottery-deploy-test.lock); the variables of
# docker/make-base-image.sh apply too.
set -euo pipefail
# The bets-data service of the compose files writes 1000 rows per agency.
unset LOTTERY_BETS_ROWS

ROOT=$(cd "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
readonly ROOT
readonly IMAGE="${LOTTERY_IMAGE:-lottery:latest}"
readonly BUILD_IMAGE="${IMAGE%:*}-build:latest"
# Unique to this run, so that its compose projects never meet another's.
readonly PROJECT_PREFIX="lotterydeploytest$$"
readonly LOCK_FILE="${LOTTERY_DEPLOY_LOCK:-/tmp/lottery-deploy-test.lock}"
readonly LOCK_TIMEOUT_S=3600
readonly WINNING_NUMBER=7574
readonly AGENCY_TIMEOUT_S=180
# The database image of the --postgres deployments.
readonly PG_IMAGE="${LOTTERY_POSTGRES_IMAGE:-${IMAGE%:*}-postgres:latest}"
# What the server logs on SIGTERM, in order, and what an agency waiting
# for the draw logs.
readonly SERVER_CLOSING="signal close_listener close_connections join_workers close_storage exit"
readonly AGENCY_CLOSING="signal close_connection close_bets_file upload done"
# An agency's last line once it has its winners (the server's is "exit":
# compose's own "exited with code N" must not read as the agency's line).
readonly AGENCY_DONE="action: done | result: success"

quick=false
case "${1:-}" in
  "") ;;
  --quick) quick=true ;;
  -h | --help)
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
    exit 0
    ;;
  *)
    echo "usage: $0 [--quick]" >&2
    exit 2
    ;;
esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/lottery-deploy.XXXXXX")
DOCKERD_PID=""
COMPOSE=()
PROJECTS=()        # compose projects brought up, removed at the end
PROJECT=""         # the deployment under test
COMPOSE_FILES=()   # its -f options
BETS_DIR=""        # its agencies' bets files
PASSED=0
FAILED=0
LAST_CHECK_OK=true

# ------------------------------------------------------------- reporting --

pass() {
  PASSED=$(( PASSED + 1 ))
  echo "ok $(( PASSED + FAILED )) - $1"
}

fail() {
  FAILED=$(( FAILED + 1 ))
  echo "not ok $(( PASSED + FAILED )) - $1"
  if [[ -n "${2:-}" ]]; then
    printf '%s\n' "$2" | head -n 40 | sed 's/^/#   /'
  fi
}

# check NAME COMMAND...: one check, passed when COMMAND succeeds (run in
# a subshell); what COMMAND prints is shown only when it fails.
check() {
  local name="$1" out
  shift
  if out=$("$@" 2>&1); then
    pass "$name"
    LAST_CHECK_OK=true
  else
    fail "$name" "$out"
    LAST_CHECK_OK=false
  fi
}

# require NAME COMMAND...: a check the next steps depend on; returns 1 if
# it failed, to be used as `require ... || return 0`.
require() {
  check "$@"
  $LAST_CHECK_OK
}

note() {
  echo "# $*"
}

summary() {
  echo "deploy: $PASSED passed, $FAILED failed"
}

# ------------------------------------------------------- engine handling --

stop_engine() {
  local i
  [[ -n "$DOCKERD_PID" ]] || return 0
  kill -TERM "$DOCKERD_PID" 2>/dev/null || true
  for (( i = 0; i < 60; i++ )); do
    kill -0 "$DOCKERD_PID" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$DOCKERD_PID" 2>/dev/null; then
    note "dockerd ($DOCKERD_PID) did not stop in 30 s; killing it"
    kill -KILL "$DOCKERD_PID" 2>/dev/null || true
  fi
  wait "$DOCKERD_PID" 2>/dev/null || true
  DOCKERD_PID=""
}

# Removes whatever a compose project left (after a failed check), by the
# labels compose puts on everything it creates.
remove_project() {
  local filter="label=com.docker.compose.project=$1"
  local -a ids
  mapfile -t ids < <(docker ps -a -q --filter "$filter")
  (( ${#ids[@]} == 0 )) || docker rm -f "${ids[@]}" >/dev/null
  mapfile -t ids < <(docker volume ls -q --filter "$filter")
  (( ${#ids[@]} == 0 )) || docker volume rm -f "${ids[@]}" >/dev/null
  mapfile -t ids < <(docker network ls -q --filter "$filter")
  (( ${#ids[@]} == 0 )) || docker network rm "${ids[@]}" >/dev/null
}

cleanup() {
  local status=$? project
  set +e
  for project in "${PROJECTS[@]}"; do
    remove_project "$project" 2>/dev/null
  done
  stop_engine
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

skip() {
  echo "deploy: SKIPPED: $*"
  exit 77
}

ensure_engine() {
  local i
  command -v docker >/dev/null ||
    skip "docker is not installed (apt-get install docker.io docker-compose debootstrap)"
  if docker info >/dev/null 2>&1; then
    note "using the running Docker engine"
    return
  fi
  command -v dockerd >/dev/null || skip "no Docker engine is running and dockerd is not installed"
  [[ $(id -u) -eq 0 ]] || skip "no Docker engine is running, and starting one needs root"

  # The lock stays with this script: the engine must not inherit it.
  dockerd >"$WORK/dockerd.log" 2>&1 9>&- &
  DOCKERD_PID=$!
  for (( i = 0; i < 120; i++ )); do
    if docker info >/dev/null 2>&1; then
      note "started dockerd (pid $DOCKERD_PID)"
      return
    fi
    if ! kill -0 "$DOCKERD_PID" 2>/dev/null; then
      wait "$DOCKERD_PID" 2>/dev/null || true
      DOCKERD_PID=""
      skip "cannot start the Docker engine: $(grep -m1 -iE 'level=(fatal|error)' "$WORK/dockerd.log" ||
                                              tail -n 1 "$WORK/dockerd.log")"
    fi
    sleep 0.5
  done
  skip "the Docker engine did not answer within 60 s of starting dockerd"
}

# One run of this test at a time on a machine: two runs would share the
# engine (one might stop it under the other) and the image tags.
take_lock() {
  exec 9>>"$LOCK_FILE" || skip "cannot open the lock file $LOCK_FILE"
  if ! flock -n 9; then
    note "waiting for another run of the deployment test ($LOCK_FILE)"
    if ! flock -w "$LOCK_TIMEOUT_S" 9; then
      fail "take the lock $LOCK_FILE" "another run held it for $LOCK_TIMEOUT_S s"
      summary
      exit 1
    fi
  fi
}

find_compose() {
  if [[ -n "${LOTTERY_COMPOSE:-}" ]]; then
    read -r -a COMPOSE <<<"$LOTTERY_COMPOSE"
  elif docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
  elif command -v docker-compose >/dev/null 2>&1; then
    COMPOSE=(docker-compose)
  else
    skip "neither 'docker compose' nor 'docker-compose' is installed"
  fi
  note "compose: ${COMPOSE[*]} $("${COMPOSE[@]}" version --short 2>/dev/null || true)"
}

# -------------------------------------------------------------- helpers --

# "1 agency", "N agencies".
agencies() {
  if (( $1 == 1 )); then echo "1 agency"; else echo "$1 agencies"; fi
}

now() {
  date +%s.%N
}

seconds_between() {
  awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'
}

# The compose command for the deployment under test, bounded in time.
dc() {
  timeout 300 "${COMPOSE[@]}" --project-directory "$ROOT" -p "$PROJECT" "${COMPOSE_FILES[@]}" "$@"
}

# Container id of service $1 of the deployment under test, running or not.
container_of() {
  docker ps -a -q --no-trunc \
    --filter "label=com.docker.compose.project=$PROJECT" \
    --filter "label=com.docker.compose.service=$1" | head -n 1
}

logs_of() {
  docker logs "$1" 2>&1
}

# The actions of the TP0 lines of a log, space-separated.
actions() {
  sed -n 's/.*action: \([a-z_]*\) | result: .*/\1/p' | tr '\n' ' ' | sed 's/ $//'
}

# A log from its "signal" line on.
after_signal() {
  sed -n '/action: signal | result: success/,$p'
}

# Winners agency i is given by make_data: K_i = 2i mod 5 (2, 4, 1, 3, 0,
# 2, ...), so the agencies differ and some have none.
winners_of() {
  echo $(( (2 * $1) % 5 ))
}

# Winners agency i is given by the compose files' bets-data service (and
# by make-data.sh without --winners): i - 1.
default_winners_of() {
  echo $(( $1 - 1 ))
}

# The rule of the deployment under test: winners_of or default_winners_of.
WINNERS_OF=winners_of

# Documents of the winning bets of an agency bets file, sorted. Fields
# are counted from the end, since a quoted name may hold a comma.
expected_winners() {
  awk -F, -v w="$WINNING_NUMBER" '$NF == w { print $(NF - 2) }' "$1" | sort
}

# Writes the bets files of the deployment under test: N ROWS [WINNERS].
make_data() {
  local n="$1" rows="$2" winners="${3:-}"
  "$ROOT/docker/make-data.sh" --dir "$BETS_DIR" --rows "$rows" --seed $(( n * 1000 )) \
    ${winners:+--winners "$winners"} "$n"
}

# Makes $1 the deployment under test, to be removed at the end whatever
# happens; its bets files go in $2, with winners by rule $3 (default
# winners_of).
use_project() {
  PROJECT="$1"
  BETS_DIR="$2"
  WINNERS_OF="${3:-winners_of}"
  PROJECTS+=("$PROJECT")
  export LOTTERY_BETS_DIR="$BETS_DIR" LOTTERY_IMAGE="$IMAGE"
}

# Starts the deployment under test: up -d returns once the server is
# healthy and the agencies are created.
compose_up() {
  dc up -d
}

# ---------------------------------------------------------------- checks --

image_user_is_lottery() {
  local user
  user=$(docker run --rm --network none --entrypoint id "$IMAGE" -un)
  [[ "$user" == lottery ]] || { echo "the image runs as '$user'"; return 1; }
}

image_has_no_build_tools() {
  docker run --rm --network none --entrypoint sh "$IMAGE" -c \
    'for t in gcc cc c99 meson ninja pkg-config make; do
       if command -v "$t"; then echo "found $t"; exit 1; fi
     done'
}

image_has_programs() {
  docker run --rm --network none --entrypoint sh "$IMAGE" -c \
    'lottery-server --version && lottery-client --version &&
     lottery-gen-bets --rows 1 --seed 1 >/dev/null && command -v nc &&
     test -r /etc/lottery/server.json && test -r /etc/lottery/client.json'
}

# The entrypoint hands flags (arguments starting with "-") to the server.
entrypoint_flags_go_to_server() {
  local out
  out=$(docker run --rm --network none "$IMAGE" --version)
  [[ "$out" == "lottery-server "* ]] || { echo "'--version' printed '$out'"; return 1; }
}

# A folder where a bets file should be (what the engine makes when a
# missing file is mounted) is an error, for make-data.sh and for the
# bets-data service alike, and nothing is written.
folder_for_bets_file_reported() {
  local dir="$WORK/folder-check" out status
  mkdir -p "$dir/agency-2.csv"
  status=0
  out=$("$ROOT/docker/make-data.sh" --dir "$dir" 3 2>&1) || status=$?
  if (( status != 2 )) || [[ "$out" != *"agency-2.csv"* ]] ||
     [[ -e "$dir/agency-1.csv" ]]; then
    echo "make-data.sh: exit $status, message '$out'"
    return 1
  fi
  status=0
  out=$(docker run --rm --network none --user 0:0 --volume "$dir:/data" "$IMAGE" \
          make-bets 3 2>&1) || status=$?
  if (( status != 1 )) || [[ "$out" != *"agency-2.csv"* ]] ||
     [[ -e "$dir/agency-1.csv" ]]; then
    echo "make-bets: exit $status, message '$out'"
    return 1
  fi
}

compose_yaml_up_to_date() {
  "$ROOT/docker/generate-compose.sh" - 5 | diff -u "$ROOT/compose.yaml" -
}

generator_deterministic() {
  "$ROOT/docker/generate-compose.sh" "$WORK/a.yaml" 10 &&
    "$ROOT/docker/generate-compose.sh" "$WORK/b.yaml" 10 &&
    cmp "$WORK/a.yaml" "$WORK/b.yaml"
}

# N agency services with ids 1..N, in a file compose accepts.
generator_valid() {
  local n="$1" file="$WORK/n$1.yaml" services ids
  "$ROOT/docker/generate-compose.sh" "$file" "$n"
  services=$(grep -c '^  agency[0-9]*:$' "$file")
  ids=$(sed -n 's/^      CLI_ID: "\([0-9]*\)"$/\1/p' "$file" | sort -n | uniq | tr '\n' ' ')
  if [[ "$services" != "$n" || "$ids" != "$(seq -s ' ' 1 "$n") " ]]; then
    echo "$services agency services, ids ${ids:0:80}"
    return 1
  fi
  "${COMPOSE[@]}" --project-directory "$ROOT" -f "$file" config -q
}

generator_rejects_bad_arguments() {
  local args out status
  local -a argv
  for args in "" "OUT" "OUT 00" "OUT 1001" "OUT -1" "OUT 05" "OUT 2.5" "OUT x" \
              "OUT 99999999999999999999999" "OUT 5 extra" "MISSING 3" "FOLDER 3" \
              "OUT 5 --servers 2" "OUT 5 --servers 1" "OUT 5 --postgres --servers 0" \
              "OUT 5 --postgres --servers 17" "OUT 5 --postgres --servers 02" \
              "OUT 5 --postgres --servers x" "OUT 5 --postgres --servers" \
              "OUT 5 --postgres --servers 2 --servers 3" "OUT 5 --pg" "OUT --postgres"; do
    rm -f "$WORK/out.yaml"
    read -r -a argv <<<"$args"
    argv=("${argv[@]/#OUT/$WORK/out.yaml}")
    argv=("${argv[@]/#MISSING/$WORK/missing/out.yaml}")
    argv=("${argv[@]/#FOLDER/$WORK}")
    status=0
    out=$("$ROOT/docker/generate-compose.sh" "${argv[@]}" 2>&1 >/dev/null) || status=$?
    if (( status != 2 )) || [[ -z "$out" ]] || [[ -e "$WORK/out.yaml" ]]; then
      echo "arguments '$args': exit $status, message '$out'," \
           "output written: $([[ -e $WORK/out.yaml ]] && echo yes || echo no)"
      return 1
    fi
  done
}

# N = 0: the server alone, valid for compose, with no agency, no
# bets-data and no agency count (server.json's applies).
generator_server_only() {
  local file="$WORK/n0.yaml"
  "$ROOT/docker/generate-compose.sh" "$file" 0 || return 1
  if grep -qE '^  (agency[0-9]+|bets-data):$|SERVER_AGENCIES' "$file"; then
    echo "N = 0 file has agencies, bets-data or SERVER_AGENCIES:"
    grep -nE '^  [a-z0-9-]+:$|SERVER_AGENCIES' "$file"
    return 1
  fi
  "${COMPOSE[@]}" --project-directory "$ROOT" -f "$file" config -q
}

# The generated files set in the environment only what the deployment
# alone knows; every other setting is the mounted config files' (an
# environment variable would beat the file an operator edits).
generator_no_env_overrides() {
  local n file vars bad=""
  for n in 0 1 5; do
    file="$WORK/env$n.yaml"
    "$ROOT/docker/generate-compose.sh" "$file" "$n" || return 1
    vars=$(sed -n 's/^      \(SERVER_[A-Z_]*\|CLI_[A-Z_]*\|LOGGING_LEVEL\):.*/\1/p' "$file" |
           sort -u | tr '\n' ' ')
    vars=$(tr ' ' '\n' <<<"$vars" |
           grep -vxE 'SERVER_AGENCIES|CLI_ID|CLI_SERVER_ADDRESS|CLI_BETS_FILE|' || true)
    [[ -z "$vars" ]] || bad+="N = $n sets $(tr '\n' ' ' <<<"$vars")"$'\n'
  done
  [[ -z "$bad" ]] || { echo "$bad"; return 1; }
}

# --postgres files for S = 1, 2 and 3 servers: the postgres service with
# its health check and volume, the servers ("server" alone, else server1
# .. serverS) on the database, each agency's server list starting at a
# different server; valid for compose, and setting in the environment
# only what the deployment knows.
generator_postgres_valid() {
  local n=5 s file i j want got bad="" vars
  for s in 1 2 3; do
    file="$WORK/pg-s$s.yaml"
    "$ROOT/docker/generate-compose.sh" "$file" "$n" --postgres --servers "$s" || return 1
    "${COMPOSE[@]}" --project-directory "$ROOT" -f "$file" config -q || return 1
    want="postgres"
    if (( s == 1 )); then
      want+=" server"
    else
      for (( j = 1; j <= s; j++ )); do want+=" server$j"; done
    fi
    got=$(grep -oE '^  (postgres|server[0-9]*):$' "$file" | tr -d ' :' | tr '\n' ' ' | sed 's/ $//')
    [[ "$got" == "$want" ]] || bad+="S = $s: services '$got', expected '$want'"$'\n'
    (( $(grep -c '^      SERVER_STORAGE_BACKEND: postgresql$' "$file") == s )) ||
      bad+="S = $s: not every server has SERVER_STORAGE_BACKEND=postgresql"$'\n'
    (( $(grep -c '^      SERVER_STORAGE_DSN: "host=postgres ' "$file") == s )) ||
      bad+="S = $s: not every server's SERVER_STORAGE_DSN names the postgres service"$'\n'
    (( $(grep -c '^      SERVER_LOTTERY_NAME: ' "$file") == s )) ||
      bad+="S = $s: not every server has SERVER_LOTTERY_NAME"$'\n'
    grep -q '^      test: \["CMD", "pg_isready"' "$file" || bad+="S = $s: no pg_isready check"$'\n'
    grep -qx '  postgres-data:' "$file" || bad+="S = $s: no named volume postgres-data"$'\n'
    # Every server and agency waits for a healthy database or server.
    (( $(grep -c '^        condition: service_healthy$' "$file") == s + n * s )) ||
      bad+="S = $s: expected $(( s + n * s )) service_healthy conditions"$'\n'
    for (( i = 1; i <= n; i++ )); do
      want=""
      for (( j = 0; j < s; j++ )); do
        if (( s == 1 )); then
          want+="server:12345"
        else
          want+="${want:+,}server$(( (i - 1 + j) % s + 1 )):12345"
        fi
      done
      got=$(awk -v a="  agency$i:" '$0 == a { f = 1 } f && /CLI_SERVER_ADDRESS/ { print $2; exit }' "$file")
      [[ "$got" == "$want" ]] || bad+="S = $s: agency $i's servers '$got', expected '$want'"$'\n'
    done
    vars=$(sed -n 's/^      \(SERVER_[A-Z_]*\|CLI_[A-Z_]*\|LOGGING_LEVEL\):.*/\1/p' "$file" | sort -u |
           grep -vxE 'SERVER_AGENCIES|SERVER_STORAGE_BACKEND|SERVER_STORAGE_DSN|SERVER_LOTTERY_NAME|CLI_ID|CLI_SERVER_ADDRESS|CLI_BETS_FILE' ||
           true)
    [[ -z "$vars" ]] || bad+="S = $s sets $(tr '\n' ' ' <<<"$vars")"$'\n'
  done
  [[ -z "$bad" ]] || { echo "$bad"; return 1; }
}

# Each agency's last line says it is done, with success.
agencies_done() {
  local n="$1" i last bad=""
  for (( i = 1; i <= n; i++ )); do
    last=$(logs_of "$(container_of "agency$i")" | grep 'action: ' | tail -n 1)
    [[ "$last" == *"$AGENCY_DONE" ]] || bad+="agency $i: last line '$last'"$'\n'
  done
  [[ -z "$bad" ]] || { echo "expected every agency to end with '$AGENCY_DONE':"; echo "$bad"; return 1; }
}

# The server's state volume, by name, for cleaning up after a plain down.
state_volume() {
  docker inspect --format \
    '{{range .Mounts}}{{if eq .Destination "/var/lib/lottery"}}{{.Name}}{{end}}{{end}}' \
    "$(container_of server)"
}

# The server container restarted after SIGKILL, then recreated, keeps
# its lottery: same state volume, bets.csv whole, no new draw needed.
server_keeps_state() {
  local n="$1" rows="$2" before after
  before=$(state_volume)
  docker kill -s KILL "$(container_of server)" >/dev/null || return 1
  dc start server >/dev/null 2>&1 || { echo "compose start server failed"; return 1; }
  dc up -d --no-deps --force-recreate server >/dev/null 2>&1 ||
    { echo "compose up --force-recreate server failed"; return 1; }
  after=$(state_volume)
  [[ -n "$before" && "$before" == "$after" ]] ||
    { echo "state volume '$before' became '$after'"; return 1; }
  storage_rows "$n" "$rows"
}

# A server and an agency in two containers speak TLS: the image has
# GIO's TLS backend (glib-networking) and the certificate is checked.
tls_between_containers() {
  local dir="$WORK/tls" net="${PROJECT_PREFIX}tls" srv="${PROJECT_PREFIX}tls-server"
  local i status=1 out=""
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=lottery-tls" \
    -addext "subjectAltName=DNS:lottery-tls" -keyout "$dir/key.pem" \
    -out "$dir/cert.pem" >/dev/null 2>&1 || { echo "openssl failed"; return 1; }
  # Readable by the image's user; a test key only.
  chmod 0644 "$dir/key.pem" "$dir/cert.pem"
  docker network create "$net" >/dev/null || return 1
  docker run -d --name "$srv" --network "$net" --network-alias lottery-tls \
    --volume "$dir:/tls:ro" "$IMAGE" server --tls-certificate /tls/cert.pem \
    --tls-key /tls/key.pem >/dev/null || status=2
  for (( i = 0; i < 20 && status == 1; i++ )); do
    if out=$(docker run --rm --network "$net" --volume "$dir:/tls:ro" "$IMAGE" \
               lottery-client --ping --server lottery-tls:12345 --tls-ca /tls/cert.pem 2>&1); then
      status=0
    else
      sleep 0.5
    fi
  done
  (( status == 0 )) || { echo "TLS ping failed: $out"; docker logs "$srv" 2>&1 | tail -n 5; }
  docker rm -f "$srv" >/dev/null 2>&1 || true
  docker network rm "$net" >/dev/null 2>&1 || true
  return "$status"
}

# Waits for the N agency containers of the deployment to exit.
agencies_exit() {
  local n="$1" deadline=$(( SECONDS + AGENCY_TIMEOUT_S )) exited=0
  while (( SECONDS < deadline )); do
    exited=$(docker ps -a --filter "label=com.docker.compose.project=$PROJECT" \
               --format '{{.Label "com.docker.compose.service"}} {{.State}}' |
             grep -c '^agency[0-9]* exited$' || true)
    (( exited < n )) || return 0
    sleep 0.5
  done
  echo "after $AGENCY_TIMEOUT_S s, $exited of $(agencies "$n") had exited"
  dc logs --no-color --tail 5 2>&1
  return 1
}

# Waits for the N agencies to have uploaded everything (FINISH accepted).
agencies_waiting() {
  local n="$1" deadline=$(( SECONDS + 60 )) i waiting=0
  while (( SECONDS < deadline )); do
    waiting=0
    for (( i = 1; i <= n; i++ )); do
      if logs_of "$(container_of "agency$i")" | grep -q 'action: finish | result: success'; then
        waiting=$(( waiting + 1 ))
      fi
    done
    (( waiting < n )) || return 0
    sleep 0.5
  done
  echo "after 60 s, $waiting of $(agencies "$n") had finished uploading"
  dc logs --no-color --tail 5 2>&1
  return 1
}

server_healthy() {
  local health
  health=$(docker inspect --format '{{.State.Health.Status}}' "$(container_of server)")
  [[ "$health" == healthy ]] || { echo "server health: $health"; return 1; }
}

# PID 1 of container $1 is program $2, run by user lottery.
is_pid1() {
  local comm user
  comm=$(docker exec "$1" cat /proc/1/comm)
  user=$(docker exec "$1" id -un)
  [[ "$comm" == "$2" && "$user" == lottery ]] ||
    { echo "PID 1 is '$comm' run by '$user', expected '$2' run by lottery"; return 1; }
}

# Every agency got exactly the winners of its own file.
agencies_winners() {
  local n="$1" i log want got want_docs got_docs bad=""
  for (( i = 1; i <= n; i++ )); do
    log=$(logs_of "$(container_of "agency$i")")
    want=$("$WINNERS_OF" "$i")
    want_docs=$(expected_winners "$BETS_DIR/agency-$i.csv")
    got=$(sed -n 's/.*action: consulta_ganadores | result: success | cant_ganadores: \([0-9]*\)$/\1/p' <<<"$log")
    got_docs=$(sed -n 's/.*action: ganador | result: success | dni: \([0-9]*\)$/\1/p' <<<"$log" | sort)
    if [[ "$(grep -c . <<<"$want_docs")" -ne "$want" ]]; then
      bad+="agency $i: its bets file has $(grep -c . <<<"$want_docs") winners, expected $want"$'\n'
    elif [[ "$got" != "$want" ]]; then
      bad+="agency $i: cant_ganadores '${got:-none}', expected $want"$'\n'
    elif [[ "$got_docs" != "$want_docs" ]]; then
      bad+="agency $i: winners $(tr '\n' ' ' <<<"$got_docs"), expected $(tr '\n' ' ' <<<"$want_docs")"$'\n'
    fi
  done
  [[ -z "$bad" ]] || { echo "$bad"; return 1; }
}

# The server's apuesta_recibida lines add up to every bet, it drew once,
# and it logged no failure.
server_totals() {
  local total="$1" log sum draws
  log=$(logs_of "$(container_of server)")
  sum=$(sed -n 's/.*action: apuesta_recibida | result: success | cantidad: \([0-9]*\)$/\1/p' <<<"$log" |
        awk '{ s += $1 } END { print s + 0 }')
  draws=$(grep -c 'action: sorteo | result: success' <<<"$log" || true)
  if (( sum != total || draws != 1 )) || grep -q 'result: fail' <<<"$log"; then
    echo "apuesta_recibida total $sum (expected $total), sorteo lines $draws (expected 1)"
    grep 'result: fail' <<<"$log" | head -n 5
    return 1
  fi
}

# bets.csv, read out of the server's volume: ROWS rows of each agency.
storage_rows() {
  local n="$1" rows="$2" i per_agency expected
  per_agency=$(docker cp "$(container_of server):/var/lib/lottery/bets.csv" - | tar -xO |
               awk -F, '{ c[$1]++ } END { for (a in c) print a, c[a] }' | sort -n)
  expected=$(for (( i = 1; i <= n; i++ )); do echo "$i $rows"; done)
  if [[ "$per_agency" != "$expected" ]]; then
    echo "bets.csv rows per agency:"; echo "$per_agency"
    echo "expected:"; echo "$expected"
    return 1
  fi
}

validate_says() {
  local want="$1" out status=0 want_status=1
  [[ "$want" != success ]] || want_status=0
  out=$("$ROOT/docker/validate-server.sh" --project-directory "$ROOT" -p "$PROJECT" \
          "${COMPOSE_FILES[@]}" 2>"$WORK/validate.err") || status=$?
  if [[ "$out" != "action: test_echo_server | result: $want" ]] ||
     (( status != want_status )); then
    echo "validate-server.sh printed '$out', exit $status"
    cat "$WORK/validate.err"
    return 1
  fi
}

compose_stop() {
  dc stop
}

# bets-data and the N agencies exited 0 (the server is still running).
agencies_exited_0() {
  local n="$1" i service status bad=""
  for service in bets-data $(seq -f 'agency%g' 1 "$n"); do
    status=$(docker inspect --format '{{.State.Status}} {{.State.ExitCode}}' \
               "$(container_of "$service")" 2>&1)
    [[ "$status" == "exited 0" ]] || bad+="$service: $status"$'\n'
  done
  [[ -z "$bad" ]] || { echo "not exited with status 0:"; echo "$bad"; return 1; }
}

# The N bets files bets-data wrote are readable by all, and the folder
# holds nothing else (no temporary file left).
bets_files_written() {
  local n="$1" i bad="" extra
  for (( i = 1; i <= n; i++ )); do
    [[ -f "$BETS_DIR/agency-$i.csv" && -s "$BETS_DIR/agency-$i.csv" ]] ||
      { bad+="agency-$i.csv missing or empty"$'\n'; continue; }
    [[ "$(stat -c %A "$BETS_DIR/agency-$i.csv")" == -???r??r?? ]] ||
      bad+="agency-$i.csv is $(stat -c %A "$BETS_DIR/agency-$i.csv")"$'\n'
  done
  extra=$(find "$BETS_DIR" -mindepth 1 -maxdepth 1 ! -regex '.*/agency-[0-9]+\.csv' -printf '%f ')
  [[ -z "$extra" ]] || bad+="also in the folder: $extra"$'\n'
  [[ -z "$bad" ]] || { echo "$bad"; return 1; }
}

all_exited_0() {
  local id status bad=""
  for id in $(docker ps -a -q --filter "label=com.docker.compose.project=$PROJECT"); do
    status=$(docker inspect --format \
      '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} {{.State.ExitCode}}' "$id")
    [[ "$status" == *" exited 0" ]] || bad+="$status"$'\n'
  done
  [[ -z "$bad" ]] || { echo "not exited with status 0:"; echo "$bad"; return 1; }
}

# After SIGTERM, the server logged each closed resource, in order.
server_closing() {
  local log closing
  log=$(logs_of "$(container_of server)")
  closing=$(after_signal <<<"$log")
  if [[ "$(actions <<<"$closing")" != "$SERVER_CLOSING" ]] || grep -q 'result: fail' <<<"$closing"; then
    echo "expected actions after the signal: $SERVER_CLOSING; server log:"
    tail -n 10 <<<"$log"
    return 1
  fi
}

# After SIGTERM, each waiting agency closed its connection and exited.
agencies_closing() {
  local n="$1" i log closing bad=""
  for (( i = 1; i <= n; i++ )); do
    log=$(logs_of "$(container_of "agency$i")")
    closing=$(after_signal <<<"$log")
    if [[ "$(actions <<<"$closing")" != "$AGENCY_CLOSING" ]] || grep -q 'result: fail' <<<"$closing"; then
      bad+="agency $i, expected actions after the signal: $AGENCY_CLOSING; log:"$'\n'
      bad+="$(tail -n 5 <<<"$log")"$'\n'
    fi
  done
  [[ -z "$bad" ]] || { echo "$bad"; return 1; }
}

no_draw() {
  ! logs_of "$(container_of server)" | grep 'action: sorteo'
}

compose_down() {
  local filter="label=com.docker.compose.project=$PROJECT"
  dc down -v --timeout 5 || return 1
  [[ -z "$(docker ps -a -q --filter "$filter")" ]] || { echo "containers left"; return 1; }
  [[ -z "$(docker volume ls -q --filter "$filter")" ]] || { echo "volume left"; return 1; }
  [[ -z "$(docker network ls -q --filter "$filter")" ]] || { echo "network left"; return 1; }
}

# ------------------------------------------------------------ scenarios --

# Seconds from $1 to the moment the last container of the deployment
# under test exited.
time_to_last_exit() {
  local -a exited
  local last
  mapfile -t exited < <(docker ps -a -q --filter "label=com.docker.compose.project=$PROJECT" \
                                         --filter status=exited)
  last=$(docker inspect --format '{{.State.FinishedAt}}' "${exited[@]}" |
         while read -r stamp; do date -d "$stamp" +%s.%N; done | sort -n | tail -n 1)
  seconds_between "$1" "$last"
}

# A fresh clone: compose.yaml brought up as it is, with no bets folder at
# all; bets-data writes the files before any agency starts.
run_fresh_clone() {
  local n=5 t0 elapsed

  use_project "${PROJECT_PREFIX}fresh" "$WORK/fresh/.data" default_winners_of
  COMPOSE_FILES=(-f "$ROOT/compose.yaml")
  t0=$(now)
  require "fresh clone: plain up -d with no bets folder" compose_up || return 0
  require "fresh clone: bets-data and every agency exit" agencies_exit "$n" || return 0
  elapsed=$(time_to_last_exit "$t0")
  note "fresh clone: up to last agency exit: $elapsed s"
  FRESH_UP_TO_LAST_EXIT="$elapsed"
  check "fresh clone: bets-data and every agency exited 0" agencies_exited_0 "$n"
  check "fresh clone: bets-data wrote $n world-readable bets files, nothing else" \
    bets_files_written "$n"
  check "fresh clone: agency i got its i - 1 winners, exactly its own" agencies_winners "$n"
  check "fresh clone: server received $(( n * 1000 )) bets, drew once, no failure" \
    server_totals $(( n * 1000 ))
  check "fresh clone: compose down -v removes everything" compose_down
  # The engine made the folder for root; a run without root removes it
  # through a container.
  if [[ $(id -u) -ne 0 ]]; then
    docker run --rm --network none --user 0:0 --volume "$WORK/fresh:/fresh" \
      --entrypoint rm "$IMAGE" -rf /fresh/.data >/dev/null 2>&1 || true
  fi
}

# A whole lottery: LABEL N ROWS COMPOSE_FILE [full]. "full" adds the
# checks of the process model and of validate-server.sh.
run_lottery() {
  local label="$1" n="$2" rows="$3" file="$4" full="${5:-}"
  local winners="" i t0 elapsed

  use_project "$PROJECT_PREFIX$label" "$WORK/bets-$label"
  COMPOSE_FILES=(-f "$file")
  for (( i = 1; i <= n; i++ )); do
    winners+="${winners:+,}$(winners_of "$i")"
  done

  require "N = $n: make the bets files ($rows bets each, known winners)" \
    make_data "$n" "$rows" "$winners" || return 0
  t0=$(now)
  require "N = $n: compose up (server healthy, then $(agencies "$n"))" compose_up || return 0
  if [[ "$full" == full ]]; then
    check "N = $n: the server program is PID 1 in its container, user lottery" \
      is_pid1 "$(container_of server)" lottery-server
  fi
  require "N = $n: every agency exits" agencies_exit "$n" || return 0
  elapsed=$(time_to_last_exit "$t0")
  note "N = $n: up to last agency exit: $elapsed s"
  [[ "$full" != full ]] || UP_TO_LAST_EXIT="$elapsed"

  check "N = $n: server healthy" server_healthy
  check "N = $n: each agency got exactly its own winners" agencies_winners "$n"
  check "N = $n: each agency's last line is '$AGENCY_DONE'" agencies_done "$n"
  check "N = $n: server received $(( n * rows )) bets, drew once, no failure" \
    server_totals $(( n * rows ))
  check "N = $n: bets.csv on the volume holds $rows bets of each agency" \
    storage_rows "$n" "$rows"
  if [[ "$full" == full ]]; then
    check "N = $n: validate-server.sh succeeds while the server runs" validate_says success
  fi
  check "N = $n: compose stop" compose_stop
  check "N = $n: every container exited 0" all_exited_0
  check "N = $n: server logs each closed resource and exits" server_closing
  if [[ "$full" == full ]]; then
    check "N = $n: validate-server.sh fails once the server is stopped" validate_says fail
  fi
  check "N = $n: compose down -v removes containers, network and volume" compose_down
}

# The course's flow: generate, up -d, the lottery runs; a server killed
# and restarted, or recreated, within the deployment keeps its state;
# down WITHOUT -v, then up again: a fresh lottery, not the old one.
run_course_flow() {
  local n=2 rows=1000 old_volume file="$WORK/compose-course.yaml"

  use_project "${PROJECT_PREFIX}course" "$WORK/bets-course" default_winners_of
  require "course flow: generate-compose.sh N = $n" \
    "$ROOT/docker/generate-compose.sh" "$file" "$n" || return 0
  COMPOSE_FILES=(-f "$file")
  require "course flow: up -d" compose_up || return 0
  require "course flow: every agency exits" agencies_exit "$n" || return 0
  check "course flow: each agency got its winners" agencies_winners "$n"
  check "course flow: each agency's last line is '$AGENCY_DONE'" agencies_done "$n"
  check "course flow: a server killed and restarted, then recreated, keeps bets.csv" \
    server_keeps_state "$n" "$rows"
  old_volume=$(state_volume)
  require "course flow: down (without -v)" dc down --timeout 5 || return 0
  require "course flow: up -d again" compose_up || return 0
  require "course flow: every agency exits again" agencies_exit "$n" || return 0
  check "course flow: after down and up, a fresh lottery: every bet received, one draw" \
    server_totals $(( n * rows ))
  check "course flow: after down and up, bets.csv holds each bet once" \
    storage_rows "$n" "$rows"
  check "course flow: after down and up, each agency got its winners" agencies_winners "$n"
  check "course flow: compose down -v removes everything" compose_down
  [[ -z "$old_volume" ]] || docker volume rm "$old_volume" >/dev/null 2>&1 || true
}

# One query to the database of the deployment under test (psql in the
# postgres container): the result, unaligned, without headers.
pg_query() {
  docker exec "$(container_of postgres)" psql -h 127.0.0.1 -U lottery -d lottery \
    -v ON_ERROR_STOP=1 -Atc "$1"
}

# Each server (SERVICE...) connected to the database at its start.
servers_on_database() {
  local service bad=""
  # A server's log is long here: read whole, grep -q would cut the pipe.
  for service in "$@"; do
    grep -q 'action: database | result: success' <<<"$(logs_of "$(container_of "$service")")" ||
      bad+="$service: no 'action: database | result: success' line"$'\n'
  done
  [[ -z "$bad" ]] || { echo "$bad"; return 1; }
}

# Kills SERVICE (SIGKILL) once the database holds a fifth of the TOTAL
# bets. The kill landed mid-upload when, right after it, fewer than TOTAL
# bets were stored and an agency that had said hello to SERVICE had not
# finished its upload (FINISH acknowledged). What it found goes to
# $WORK/killed: the bets stored, then the agencies cut off.
kill_mid_upload() {
  local service="$1" total="$2" deadline=$(( SECONDS + 60 )) stored=0 served i
  local killed_at cut_off=""
  while (( SECONDS < deadline )); do
    stored=$(pg_query 'SELECT count(*) FROM lottery_bet' 2>/dev/null) || stored=0
    (( stored < total / 5 )) || break
    sleep 0.2
  done
  (( stored >= total / 5 )) ||
    { echo "after 60 s the database held $stored of $total bets"; return 1; }
  docker kill -s KILL "$(container_of "$service")" >/dev/null || return 1
  killed_at=$(pg_query 'SELECT count(*) FROM lottery_bet') || return 1
  served=$(logs_of "$(container_of "$service")" |
           sed -n 's/.*action: hello | result: success | agency: \([0-9]*\) .*/\1/p' | sort -un)
  for i in $served; do
    grep -q 'action: finish | result: success' <<<"$(logs_of "$(container_of "agency$i")")" ||
      cut_off+="${cut_off:+ }$i"
  done
  printf '%s\n%s\n' "$killed_at" "$cut_off" >"$WORK/killed"
  if (( killed_at >= total )) || [[ -z "$cut_off" ]]; then
    echo "killed too late: $killed_at of $total bets stored; agencies of $service:" \
         "$(tr '\n' ' ' <<<"$served")none of them still uploading"
    return 1
  fi
}

# The database holds every row of the N bets files, each once: ROWS
# bets of each agency.
database_rows() {
  local n="$1" i stored expected total=0
  for (( i = 1; i <= n; i++ )); do
    expected+="$i|$(wc -l <"$BETS_DIR/agency-$i.csv")"$'\n'
    total=$(( total + $(wc -l <"$BETS_DIR/agency-$i.csv") ))
  done
  stored=$(pg_query 'SELECT count(*) FROM lottery_bet') || return 1
  (( stored == total )) || { echo "lottery_bet holds $stored bets, the files $total"; return 1; }
  stored=$(pg_query 'SELECT agency, count(*) FROM lottery_bet GROUP BY agency ORDER BY agency') ||
    return 1
  if [[ "$stored"$'\n' != "$expected" ]]; then
    echo "bets per agency in lottery_bet:"; echo "$stored"
    echo "in the bets files:"; printf '%s' "$expected"
    return 1
  fi
}

# The lottery was drawn, and its winners are each agency's own: WINNERS_OF
# of each, as many as its bets file holds.
database_winners() {
  local n="$1" i drawn got expected=""
  drawn=$(pg_query 'SELECT count(*) FROM lottery WHERE drawn IS NOT NULL') || return 1
  [[ "$drawn" == 1 ]] || { echo "$drawn drawn lotteries in the database, expected 1"; return 1; }
  for (( i = 1; i <= n; i++ )); do
    (( $("$WINNERS_OF" "$i") == 0 )) || expected+="$i|$("$WINNERS_OF" "$i")"$'\n'
  done
  got=$(pg_query 'SELECT agency, count(*) FROM lottery_winner GROUP BY agency ORDER BY agency') ||
    return 1
  [[ -z "$got" ]] || got+=$'\n'
  if [[ "$got" != "$expected" ]]; then
    echo "winners per agency in lottery_winner:"; echo "$got"
    echo "expected:"; printf '%s' "$expected"
    return 1
  fi
}

# validate-server.sh, told the server service: server2 answers, the
# killed server1 does not.
validate_after_kill() {
  LOTTERY_SERVER_HOST=server2 validate_says success &&
    LOTTERY_SERVER_HOST=server1 validate_says fail
}

# Several servers over one database (generate-compose.sh --postgres
# --servers 2): server1 is killed (SIGKILL) in the middle of the upload;
# its agencies carry on at server2, the next address of their lists; every
# agency gets its winners and every bet is stored once. The agencies send
# one bet per batch, so that the upload of 5 x 40000 bets lasts some
# seconds.
run_postgres_servers() {
  local n=5 servers=2 rows=40000 total file="$WORK/compose-pg.yaml" i t0 elapsed
  local label="2 servers over PostgreSQL" started=$SECONDS

  use_project "${PROJECT_PREFIX}pg" "$WORK/bets-pg" default_winners_of
  export LOTTERY_POSTGRES_IMAGE="$PG_IMAGE"
  total=$(( n * rows ))
  require "$label: generate-compose.sh N = $n --postgres --servers $servers" \
    "$ROOT/docker/generate-compose.sh" "$file" "$n" --postgres --servers "$servers" || return 0
  {
    echo "services:"
    for (( i = 1; i <= n; i++ )); do
      printf '  agency%d:\n    environment:\n      CLI_BATCH_MAXAMOUNT: "1"\n' "$i"
    done
  } >"$WORK/compose-pg-override.yaml"
  COMPOSE_FILES=(-f "$file" -f "$WORK/compose-pg-override.yaml")

  t0=$(now)
  require "$label: build the PostgreSQL image (compose build postgres)" \
    dc build --force-rm postgres || return 0
  docker image prune -f --filter label=ar.loteria.stage=postgres >/dev/null
  note "$label: PostgreSQL image $PG_IMAGE in $(seconds_between "$t0" "$(now)") s"
  require "$label: make the bets files ($rows bets each, agency i has i - 1 winners)" \
    make_data "$n" "$rows" || return 0
  t0=$(now)
  require "$label: compose up (database healthy, then the servers, then $(agencies "$n"))" \
    compose_up || return 0
  check "$label: both servers connected to the database" servers_on_database server1 server2
  require "$label: server1 killed (SIGKILL) mid-upload" kill_mid_upload server1 "$total" ||
    return 0
  note "$label: server1 killed with $(sed -n 1p "$WORK/killed") of $total bets stored;" \
       "agencies cut off mid-upload: $(sed -n 2p "$WORK/killed")"
  require "$label: every agency exits" agencies_exit "$n" || return 0
  elapsed=$(time_to_last_exit "$t0")
  note "$label: up to last agency exit: $elapsed s"
  PG_UP_TO_LAST_EXIT="$elapsed"
  check "$label: bets-data and every agency exited 0" agencies_exited_0 "$n"
  check "$label: agency i got its i - 1 winners, exactly its own" agencies_winners "$n"
  check "$label: each agency's last line is '$AGENCY_DONE'" agencies_done "$n"
  check "$label: validate-server.sh: server2 answers, the killed server1 does not" \
    validate_after_kill
  check "$label: lottery_bet holds every bet of the files once ($total)" database_rows "$n"
  check "$label: the lottery was drawn; lottery_winner holds each agency's winners" \
    database_winners "$n"
  check "$label: compose down -v removes containers, network and volume" compose_down
  PG_SCENARIO_TIME=$(( SECONDS - started ))
}

# Agencies still waiting for the draw (the server expects one agency more
# than there are) are stopped: they and the server must exit 0.
run_interrupted() {
  local n=2

  use_project "${PROJECT_PREFIX}stop" "$WORK/bets-stop"
  require "stop while waiting: generate-compose.sh N = $n" \
    "$ROOT/docker/generate-compose.sh" "$WORK/compose-stop.yaml" "$n" || return 0
  cat >"$WORK/compose-stop-override.yaml" <<EOF
services:
  server:
    environment:
      SERVER_AGENCIES: "$(( n + 1 ))"
EOF
  COMPOSE_FILES=(-f "$WORK/compose-stop.yaml" -f "$WORK/compose-stop-override.yaml")

  require "stop while waiting: make the bets files" make_data "$n" 500 || return 0
  require "stop while waiting: compose up" compose_up || return 0
  require "stop while waiting: $n agencies upload and wait for the draw" \
    agencies_waiting "$n" || return 0
  check "stop while waiting: the agency program is PID 1 in its container, user lottery" \
    is_pid1 "$(container_of agency1)" lottery-client
  check "stop while waiting: compose stop" compose_stop
  check "stop while waiting: every container exited 0" all_exited_0
  check "stop while waiting: agencies log the signal, close the connection and exit" \
    agencies_closing "$n"
  check "stop while waiting: server logs each closed resource and exits" server_closing
  check "stop while waiting: no draw took place" no_draw
  check "stop while waiting: compose down -v removes everything" compose_down
}

# ------------------------------------------------------------------ main --

take_lock
ensure_engine
find_compose

t0=$(now)
if ! "$ROOT/docker/make-base-image.sh" >"$WORK/base.log" 2>&1; then
  fail "make the base image" "$(tail -n 20 "$WORK/base.log")"
  summary
  exit 1
fi
BASE_TIME=$(seconds_between "$t0" "$(now)")
note "$(tail -n 1 "$WORK/base.log") ($BASE_TIME s)"

# The build stage is tagged too, so that it stays as the cache of the next
# build while the build stages of earlier sources, left untagged, are
# pruned instead of piling up. The image itself is built the way README
# says, by compose's builder (the build stage comes from the cache).
t0=$(now)
if ! docker build --force-rm -f "$ROOT/docker/Dockerfile" --target build -t "$BUILD_IMAGE" \
       "$ROOT" >"$WORK/build.log" 2>&1; then
  fail "build the build stage (runs the unit tests)" "$(tail -n 40 "$WORK/build.log")"
  summary
  exit 1
fi
t1=$(now)
if ! LOTTERY_IMAGE="$IMAGE" "${COMPOSE[@]}" --project-directory "$ROOT" -f "$ROOT/compose.yaml" \
       build --force-rm >"$WORK/compose-build.log" 2>&1; then
  fail "build the image with compose build" "$(tail -n 40 "$WORK/compose-build.log")"
  summary
  exit 1
fi
BUILD_TIME=$(seconds_between "$t0" "$(now)")
COMPOSE_BUILD_TIME=$(seconds_between "$t1" "$(now)")
docker image prune -f --filter label=ar.loteria.stage=build >/dev/null
docker image prune -f --filter label=ar.loteria.stage=runtime >/dev/null
pass "build the image (build stage runs the unit tests; compose build $COMPOSE_BUILD_TIME s) in $BUILD_TIME s"
note "image $IMAGE: $(docker image inspect --format '{{.Size}}' "$IMAGE" |
                      awk '{ printf "%.0f MB", $1 / 1e6 }')"

check "image runs as the unprivileged user lottery" image_user_is_lottery
check "image holds no build tools" image_has_no_build_tools
check "image has the programs, netcat and the default configs" image_has_programs
check "entrypoint hands flags to lottery-server" entrypoint_flags_go_to_server
check "a folder where a bets file should be is reported (make-data.sh, bets-data)" \
  folder_for_bets_file_reported
check "compose.yaml is generate-compose.sh's output for N = 5" compose_yaml_up_to_date
check "generate-compose.sh rejects bad arguments: exit 2, a message, no file" \
  generator_rejects_bad_arguments
check "generate-compose.sh output is deterministic" generator_deterministic
check "generate-compose.sh N = 0: the server alone, valid for compose" generator_server_only
check "generate-compose.sh sets in the environment only what the deployment knows" \
  generator_no_env_overrides
if command -v openssl >/dev/null 2>&1; then
  check "TLS between two containers (glib-networking in the image)" tls_between_containers
else
  note "openssl is not installed: the TLS check between containers is skipped"
fi
check "generate-compose.sh --postgres --servers S: the database, S servers, rotated lists" \
  generator_postgres_valid
check "generate-compose.sh N = 1: one agency, valid for compose" generator_valid 1
check "generate-compose.sh N = 1000: 1000 agencies, valid for compose" generator_valid 1000

UP_TO_LAST_EXIT="?"
FRESH_UP_TO_LAST_EXIT="?"
PG_UP_TO_LAST_EXIT="?"
PG_SCENARIO_TIME="?"
run_fresh_clone
run_lottery n5 5 1500 "$ROOT/compose.yaml" full
run_course_flow

sizes=(3)
$quick || sizes+=(1 10)
for n in "${sizes[@]}"; do
  if require "generate-compose.sh N = $n" \
       "$ROOT/docker/generate-compose.sh" "$WORK/compose-$n.yaml" "$n"; then
    run_lottery "n$n" "$n" 1000 "$WORK/compose-$n.yaml"
  fi
done
run_interrupted
run_postgres_servers

note "timings: base image $BASE_TIME s, image build $BUILD_TIME s" \
     "(compose build $COMPOSE_BUILD_TIME s), up to last agency exit (N = 5):" \
     "fresh clone $FRESH_UP_TO_LAST_EXIT s, with make-data.sh files $UP_TO_LAST_EXIT s;" \
     "2 servers over PostgreSQL: up to last agency exit $PG_UP_TO_LAST_EXIT s," \
     "the whole scenario $PG_SCENARIO_TIME s; whole test $SECONDS s"
summary
(( FAILED == 0 ))
