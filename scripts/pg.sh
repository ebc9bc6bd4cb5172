#!/usr/bin/env bash
# The project's local PostgreSQL + TimescaleDB cluster: start | stop | status | createdb NAME | dropdb NAME.
# Data lives in the git-ignored .tmp/ folder of the project (or EVENTS_PG_DIR); the server
# listens on 127.0.0.1 only, with timescaledb preloaded. Every command is idempotent.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
. /etc/os-release
case "${VERSION_CODENAME:-}" in
  bookworm) PG_MAJOR="${PG_MAJOR:-15}" ;;
  *)        PG_MAJOR="${PG_MAJOR:-17}" ;;
esac
PGBIN="/usr/lib/postgresql/$PG_MAJOR/bin"
PORT="${EVENTS_PG_PORT:-55432}"
DIR="${EVENTS_PG_DIR:-$here/.tmp/pg}"
# As root the server runs as `postgres`, which must be able to reach DIR. When the project lies
# in a folder it cannot enter (say /root/...), use a folder of /var/tmp named after the project.
if [ -z "${EVENTS_PG_DIR:-}" ] && [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$here"; then
  DIR="/var/tmp/events-service-$(printf '%s' "$here" | md5sum | cut -c1-12)/pg"
fi
DATA="$DIR/data"
SOCK="$DIR/sock"

# PostgreSQL refuses to run as root: as root, run the server as the postgres user.
as_pg() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

prepare_dirs() {
  if [ "$(id -u)" = 0 ]; then
    mkdir -p "$(dirname "$DIR")"
    install -d -o postgres -g postgres -m 755 "$DIR"
    install -d -o postgres -g postgres -m 700 "$DATA"
    install -d -o postgres -g postgres -m 755 "$SOCK"
    if ! runuser -u postgres -- test -w "$DATA"; then
      echo "the postgres user cannot reach $DATA; set EVENTS_PG_DIR to a folder it can reach" >&2
      exit 1
    fi
  else
    install -d -m 755 "$DIR"; install -d -m 700 "$DATA"; install -d -m 755 "$SOCK"
  fi
}

running() { as_pg "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

start() {
  prepare_dirs
  if [ ! -f "$DATA/PG_VERSION" ]; then
    as_pg "$PGBIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >> "$DATA/postgresql.conf" <<CONF
# events-service local cluster (scripts/pg.sh)
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCK'
shared_preload_libraries = 'timescaledb'
timescaledb.max_background_workers = 0   # Apache-only build: no jobs to run
max_connections = 200
shared_buffers = 1GB
work_mem = 64MB
maintenance_work_mem = 256MB
max_wal_size = 4GB
jit = off                                # JIT only adds latency to our short queries
CONF
  fi
  if running; then
    echo "cluster already running on 127.0.0.1:$PORT ($DATA)"
  elif "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
    echo "another PostgreSQL server already listens on 127.0.0.1:$PORT (not $DATA):" \
         "stop it, or set EVENTS_PG_PORT to a free port" >&2
    exit 1
  else
    as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 start >/dev/null
    echo "cluster started on 127.0.0.1:$PORT ($DATA)"
  fi
}

stop() {
  if [ -f "$DATA/PG_VERSION" ] && running; then
    as_pg "$PGBIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
    echo "cluster stopped"
  else
    echo "cluster not running"
  fi
}

psql_() { "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }

createdb() {
  local name=$1
  if [ -z "$(psql_ -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'")" ]; then
    psql_ -c "CREATE DATABASE \"$name\""
    echo "database $name created"
  fi
}

dropdb() { psql_ -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)"; }

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running on 127.0.0.1:$PORT"; else echo "stopped"; exit 3; fi ;;
  createdb) createdb "$2" ;;
  dropdb) dropdb "$2" ;;
  *) echo "usage: $0 start|stop|status|createdb NAME|dropdb NAME" >&2; exit 2 ;;
esac
