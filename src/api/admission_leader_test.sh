#!/bin/bash
# Two `tandem server` processes with --max-running-jobs-per-repository 1 on
# one PostgreSQL database: exactly one holds the admission leader lock. A job
# submitted to the other one waits Pending until the leader launches it, and
# completes. A per-repository limit keeps jobs of other tests in the shared
# database from counting against this one.
# Usage: admission_leader_test.sh TANDEM_BINARY POSTGRESQL_URL
set -u
tandem=$1
database=$2
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAILED: $*"; tail -n 30 "$work"/a/log "$work"/b/log; exit 1; }

# Waits (at most 20 s, polling every 0.2 s) until FILE contains TEXT.
wait_for() {
  for _ in $(seq 1 100); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  fail "timed out waiting for \"$2\" in $1"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_server() {  # NAME PORT
  mkdir -p "$work/$1"
  "$tandem" server --data-dir "$work/$1" --port "$2" --database "$database" \
    --input-root "$work/inputs" --max-running-jobs-per-repository 1 >"$work/$1/log" 2>&1 &
  pids+=($!)
  disown $!
  wait_for "$work/$1/log" "control plane listening"
}

mkdir -p "$work/inputs/src"
echo "y,x" >"$work/inputs/train.csv"
printf '#!/bin/sh\necho ok > "$SM_MODEL_DIR/model.txt"\n' >"$work/inputs/src/user.sh"

leader_text="admission leader lock acquired"
port_a=$(free_port)
start_server a "$port_a"
wait_for "$work/a/log" "$leader_text"
port_b=$(free_port)
start_server b "$port_b"
sleep 3  # more than one admission interval: the standby must not have taken the lock
grep -q "$leader_text" "$work/b/log" && fail "both servers hold the admission lock"

# Submit to the standby, which stores the job Pending for the leader.
name="leader-$(basename "$work" | tr -dc 'a-z0-9')"
job=$(curl -sf -H "Authorization: Bearer $(cat "$work/b/admin.token")" \
  -H "Content-Type: application/json" -X POST "http://127.0.0.1:$port_b/api/v1/jobs" -d @- <<EOF
{"TrainingJobName": "$name", "Repository": "queue-leader-test",
 "AlgorithmSpecification": {"EntryPoint": ["/bin/sh", "user.sh"], "SourceDir": "$work/inputs/src"},
 "InputDataConfig": [{"ChannelName": "train",
   "DataSource": {"FileDataSource": {"Path": "$work/inputs/train.csv"}}}],
 "OutputDataConfig": {"ModelName": "queue-leader-test"}}
EOF
) || fail "submit to the standby failed"
id=$(echo "$job" | jq -r .JobId)
[ "$(echo "$job" | jq -r .SecondaryStatus)" = "Pending" ] \
  || fail "the standby answered $(echo "$job" | jq -c '[.TrainingJobStatus, .SecondaryStatus]'), expected Pending"

# The leader launches it; it completes within 30 s.
for _ in $(seq 1 150); do
  status=$(curl -sf "http://127.0.0.1:$port_a/api/v1/jobs/$id" | jq -r .TrainingJobStatus)
  [ "$status" = "Completed" ] && break
  sleep 0.2
done
[ "$status" = "Completed" ] || fail "job $id is $status, expected Completed"
grep -q "job admitted job=$id" "$work/a/log" || fail "the leader did not admit job $id"
grep -q "job admitted job=$id" "$work/b/log" && fail "the standby admitted job $id"
echo "the standby queued job $id and the leader launched it"
