#!/bin/bash
# Two `tandem server` processes on one PostgreSQL database: only the holder of
# the scheduler leader lock fires runs, no slot fires twice, and after kill -9
# of the leader the other server takes the lock and goes on firing.
# Usage: scheduler_leader_test.sh TANDEM_BINARY POSTGRESQL_URL
set -u
tandem=$1
url=$2
schema="schedules_leader_$$"
scoped_url="${url}?options=-csearch_path%3D${schema}"
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
  psql -q "$url" -c "DROP SCHEMA IF EXISTS ${schema} CASCADE" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# Waits (at most 30 s, polling every 0.2 s) until FILE contains TEXT.
wait_for() {
  for _ in $(seq 1 150); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "timed out waiting for \"$2\" in $1"; cat "$1"; return 1
}

# Waits (at most 30 s) until FILE contains at least N lines with TEXT.
wait_for_count() {
  for _ in $(seq 1 150); do
    [ "$(grep -c "$2" "$1" 2>/dev/null)" -ge "$3" ] && return 0
    sleep 0.2
  done
  echo "timed out waiting for $3 lines \"$2\" in $1"; cat "$1"; return 1
}

psql -q "$url" -c "DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}" || exit 1
mkdir -p "$work/a" "$work/b" "$work/inputs/train" "$work/inputs/src"
echo "x,y" >"$work/inputs/train/data.csv"
echo 'echo run' >"$work/inputs/src/run.sh"

leader_text="this process runs the scheduler"
fired_text="schedule run fired"
start_server() {  # NAME
  "$tandem" server --data-dir "$work/$1" --port 0 --database "$scoped_url" \
    --input-root "$work/inputs" >"$work/$1/log" 2>&1 &
  pids+=($!)
  wait_for "$work/$1/log" "control plane listening" || exit 1
}
start_server a
start_server b
port_a=$(grep -o 'url=http://127.0.0.1:[0-9]*' "$work/a/log" | head -1 | sed 's/.*://')

# A schedule that fires every 2 s, created through server a.
curl -sf -X POST "http://127.0.0.1:${port_a}/api/v1/schedules" \
  -H "Authorization: Bearer $(cat "$work/a/admin.token")" -H "Content-Type: application/json" \
  -d "{\"ScheduleName\": \"leader\", \"ScheduleExpression\": \"@every 2s\",
       \"JobTemplate\": {\"Repository\": \"leader\",
         \"AlgorithmSpecification\": {\"EntryPoint\": [\"/bin/sh\", \"run.sh\"],
                                      \"SourceDir\": \"$work/inputs/src\"},
         \"InputDataConfig\": [{\"ChannelName\": \"train\",
           \"DataSource\": {\"FileDataSource\": {\"Path\": \"$work/inputs/train\"}}}],
         \"OutputDataConfig\": {\"ModelName\": \"leader\"}}}" >/dev/null || exit 1

# Exactly one server leads and fires.
lead=""
for _ in $(seq 1 150); do
  if grep -q "$leader_text" "$work/a/log"; then leader=0 lead=a standby=b; break; fi
  if grep -q "$leader_text" "$work/b/log"; then leader=1 lead=b standby=a; break; fi
  sleep 0.2
done
[ -n "$lead" ] || { echo "no server took the scheduler lock"; exit 1; }
wait_for_count "$work/$lead/log" "$fired_text" 3 || exit 1
if grep -q "$fired_text\|$leader_text" "$work/$standby/log"; then
  echo "both servers ran the scheduler"; exit 1
fi

# The standby takes over after the leader dies and handles the following
# slots. It may skip them while the last run of the dead leader still reads
# InProgress (until the reconciler ends it), so skipped slots count too.
kill -9 "${pids[$leader]}"
wait_for "$work/$standby/log" "$leader_text" || exit 1
wait_for_count "$work/$standby/log" "$fired_text\|schedule slot skipped" 2 || exit 1

# No slot made two jobs: each slot was created once across both logs.
created=$(cat "$work/a/log" "$work/b/log" | grep "$fired_text" | grep "created=true" |
  grep -o 'slot=[^ ]*' | sort)
if [ "$(echo "$created" | uniq -d | wc -w)" -ne 0 ]; then
  echo "a slot fired twice:"; echo "$created" | uniq -d; exit 1
fi
echo "one leader fired $(echo "$created" | wc -l) slots, each once; the standby took over"
