#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on a free local port for the tests (Debian's
# `postgresql`, installed with apt-get when missing). Prints `export ...` lines to eval:
#   eval "$(bash scripts/postgres.sh start)"   ...   bash scripts/postgres.sh stop "$DIR"
set -euo pipefail

as_owner() {
  # initdb refuses to run as root: use the `postgres` account the package creates.
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}

bindir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

start() {
  if [ -z "$(bindir)" ]; then
    echo "installing postgresql (apt-get)..." >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  fi
  local bin dir port
  bin=$(bindir)
  dir=$(mktemp -d /tmp/dagship-pg.XXXXXX)
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_owner "$bin/initdb -D $dir/data -A trust -U postgres" >/dev/null
  as_owner "$bin/pg_ctl -D $dir/data -l $dir/log -w -o '-p $port -k $dir -c listen_addresses=127.0.0.1' start" >/dev/null
  echo "export DAGSHIP_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:$port/postgres"
  echo "export DAGSHIP_TEST_POSTGRES_DIR=$dir"
}

stop() {
  local dir=$1
  as_owner "$(bindir)/pg_ctl -D $dir/data -m immediate stop" >/dev/null 2>&1 || true
  rm -rf "$dir"
}

"$@"
