#!/bin/bash
# Two `tandem server` processes on one PostgreSQL database: exactly one holds
# the reconciler leader lock and runs the startup reconcile; after kill -9 of
# the leader, the other takes the lock.
# Usage: reconciler_leader_test.sh TANDEM_BINARY POSTGRESQL_URL
set -u
tandem=$1
url=$2
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

# Waits (at most 20 s, polling every 0.2 s) until FILE contains TEXT.
wait_for() {
  for _ in $(seq 1 100); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "timed out waiting for \"$2\" in $1"; cat "$1"; return 1
}

leader_text="this process reconciles"
mkdir -p "$work/a" "$work/b"
"$tandem" server --data-dir "$work/a" --port 0 --database "$url" \
  --reconcile-interval-seconds 1 >"$work/a/log" 2>&1 &
pids+=($!)
wait_for "$work/a/log" "$leader_text" || exit 1
"$tandem" server --data-dir "$work/b" --port 0 --database "$url" \
  --reconcile-interval-seconds 1 >"$work/b/log" 2>&1 &
pids+=($!)
wait_for "$work/b/log" "control plane listening" || exit 1
sleep 2  # two reconciler intervals: the standby must not have taken the lock
if grep -q "$leader_text" "$work/b/log"; then
  echo "both servers hold the reconciler lock"; exit 1
fi
if ! grep -q "startup reconcile skipped" "$work/b/log"; then
  echo "the standby ran the startup reconcile"; cat "$work/b/log"; exit 1
fi
kill -9 "${pids[0]}"
wait_for "$work/b/log" "$leader_text" || exit 1
echo "standby took over the reconciler lock"
