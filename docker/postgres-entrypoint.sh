#!/bin/sh
# Entrypoint of the lottery-postgres image (docker/postgres.Dockerfile):
# makes the cluster in $PGDATA at the first start, then replaces itself
# with the PostgreSQL server (exec), which runs as PID 1 and receives the
# engine's stop signal directly.
#
# At the first start (an empty $PGDATA): initdb with the superuser
# "lottery", UTF-8 and the C.UTF-8 locale; access by "trust" from the
# container itself and from the networks its interfaces are on (samenet),
# nothing from elsewhere; then the database "lottery", made in single-user
# mode, so the server never accepts a connection before the database
# exists. Later starts find the cluster and only start it.
#
# Arguments, if any, go to the postgres program (e.g. `-c log_statement=all`).
set -eu

: "${PGDATA:=/var/lib/postgresql/data}"
readonly USER_NAME=lottery
readonly DATABASE=lottery

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  echo "lottery-postgres: making the cluster in $PGDATA"
  initdb --pgdata="$PGDATA" --username="$USER_NAME" --encoding=UTF8 \
    --locale=C.UTF-8 --auth=trust >/dev/null
  cat >"$PGDATA/pg_hba.conf" <<HBA
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  trust
host    all       all   ::1/128       trust
# The deployment's own network: the port is not published.
host    all       all   samenet       trust
HBA
  echo "CREATE DATABASE $DATABASE;" |
    postgres --single -D "$PGDATA" -j postgres >/dev/null
  echo "lottery-postgres: database $DATABASE ready"
fi

exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
