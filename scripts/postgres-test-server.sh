#!/usr/bin/env bash
# Starts and stops a throwaway PostgreSQL 15 server for the store tests.
#
#   scripts/postgres-test-server.sh start DIR PORT
#   scripts/postgres-test-server.sh stop DIR
#
# start: creates a fresh cluster in DIR/data (removing what an earlier run left
# there, after stopping its server), listening on 127.0.0.1:PORT only, with
# trust authentication on loopback and fsync off, waits until it accepts
# connections, and creates the database tandem_test. The tests connect with
#   host=127.0.0.1 port=PORT dbname=tandem_test user=postgres
# It fails when PORT is already in use. PostgreSQL refuses to run as root, so
# as root the server runs as the `postgres` system user and DIR is handed to
# it; DIR's parent directories must then be searchable by that user.
#
# stop: stops the server of DIR (pg_ctl -m fast) and removes DIR.
set -euo pipefail

BIN="${POSTGRES_BIN:-/usr/lib/postgresql/15/bin}"
DATABASE=tandem_test
READY_ATTEMPTS=60  # pg_isready polls, 0.5 s apart

fail() { printf 'postgres-test-server: error: %s\n' "$*" >&2; exit 1; }
usage() { fail "usage: $0 start DIR PORT | stop DIR"; }

# Runs a command as the owner of the cluster: `postgres` when we are root.
as_owner() {
  if [[ "$(id -u)" -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Removes DIR, but only when it is empty or looks like one this script made.
remove_dir() {
  local dir="$1"
  [[ -e "${dir}" ]] || return 0
  if [[ -f "${dir}/initdb.log" || -z "$(ls -A "${dir}")" ]]; then
    rm -rf "${dir}"
  else
    fail "${dir} exists and was not made by this script; choose another DIR"
  fi
}

stop_server() {
  local dir="$1"
  if [[ -f "${dir}/data/postmaster.pid" ]]; then
    as_owner "${BIN}/pg_ctl" -D "${dir}/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
      printf 'postgres-test-server: warning: pg_ctl stop failed for %s\n' "${dir}/data" >&2
  fi
}

start() {
  local dir="$1" port="$2"
  [[ "${port}" =~ ^[0-9]+$ ]] || fail "PORT must be a number, got \"${port}\""
  [[ -x "${BIN}/initdb" ]] ||
    fail "PostgreSQL 15 is not installed: ${BIN}/initdb is missing (apt-get install postgresql-15)"

  # Step 1: clear what an earlier, interrupted run left behind.
  stop_server "${dir}"
  remove_dir "${dir}"
  if port_in_use "${port}"; then
    fail "port ${port} on 127.0.0.1 is already in use; stop the process listening there" \
      "(ss -ltnp 'sport = :${port}') or run the tests from one build directory at a time"
  fi

  # Step 2: a new cluster owned by the user the server runs as.
  mkdir -p "${dir}"
  if [[ "$(id -u)" -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || fail "the postgres system user is missing (it comes with postgresql-15)"
    chown postgres: "${dir}"
    as_owner test -w "${dir}" ||
      fail "user postgres cannot write to ${dir}; choose a DIR whose parents it can search"
  fi
  as_owner "${BIN}/initdb" -D "${dir}/data" -U postgres -A trust -E UTF8 --no-sync \
    >"${dir}/initdb.log" 2>&1 || fail "initdb failed; see ${dir}/initdb.log"

  # Step 3: start it on loopback only; the socket directory is DIR itself.
  as_owner "${BIN}/pg_ctl" -D "${dir}/data" -l "${dir}/server.log" -s \
    -o "-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off \
        -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start || fail "the server did not start; see ${dir}/server.log"

  # Step 4: wait, a bounded number of times, until it accepts connections.
  local attempt
  for ((attempt = 0; attempt < READY_ATTEMPTS; attempt++)); do
    if "${BIN}/pg_isready" -q -h 127.0.0.1 -p "${port}" -U postgres; then break; fi
    sleep 0.5
  done
  ((attempt < READY_ATTEMPTS)) ||
    fail "the server on port ${port} was not ready after ${READY_ATTEMPTS} checks; see ${dir}/server.log"

  "${BIN}/createdb" -h 127.0.0.1 -p "${port}" -U postgres "${DATABASE}" ||
    fail "createdb ${DATABASE} failed; see ${dir}/server.log"
  echo "PostgreSQL 15 ready: host=127.0.0.1 port=${port} dbname=${DATABASE} user=postgres"
}

stop() {
  local dir="$1"
  stop_server "${dir}"
  remove_dir "${dir}"
  echo "PostgreSQL test server in ${dir} stopped"
}

[[ -z "${2:-}" || "${2:-}" == /* ]] || fail "DIR must be an absolute path, got \"${2}\""
[[ "${2:-}" != "/" ]] || fail "DIR must not be /"

case "${1:-}" in
  start) [[ $# -eq 3 ]] || usage; start "$2" "$3" ;;
  stop) [[ $# -eq 2 ]] || usage; stop "$2" ;;
  *) usage ;;
esac
