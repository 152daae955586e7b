#!/bin/bash
# A real `tandem server` with --max-running-jobs 1 and three jobs: the second
# and third wait Pending. The server is killed with SIGKILL while the first
# runs and started again; the queue survives, and the jobs start one at a
# time in submission order and all complete.
# Usage: admission_restart_test.sh TANDEM_BINARY
set -u
tandem=$1
work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill_server
  rm -rf "$work"
}
trap cleanup EXIT

# Kills the server with SIGKILL and waits (at most 10 s) until it is gone.
kill_server() {
  kill -9 "$server_pid" 2>/dev/null
  for _ in $(seq 1 100); do
    kill -0 "$server_pid" 2>/dev/null || return 0
    sleep 0.1
  done
}

fail() { echo "FAILED: $*"; cat "$work/server.log" 2>/dev/null; exit 1; }

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"

start_server() {
  "$tandem" server --data-dir "$work/data" --port "$port" --input-root "$work/inputs" \
    --max-running-jobs 1 --reconcile-interval-seconds 1 --reconcile-quiet-seconds 0 \
    >>"$work/server.log" 2>&1 &
  server_pid=$!
  disown "$server_pid"  # no "Killed" job report from bash after kill -9
  for _ in $(seq 1 100); do
    curl -sf "$url/api/v1/health" >/dev/null && return 0
    sleep 0.2
  done
  fail "the server did not answer within 20 s"
}

# The user's code appends its job's name to `order`, runs for a second and
# writes a model file.
mkdir -p "$work/inputs/src"
echo "y,x" >"$work/inputs/train.csv"
cat >"$work/inputs/src/user.sh" <<'EOF'
#!/bin/sh
echo "$TRAINING_JOB_NAME" >> "$ORDER_FILE"
sleep 1
echo ok > "$SM_MODEL_DIR/model.txt"
EOF

submit() {
  curl -sf -H "Authorization: Bearer $(cat "$work/data/admin.token")" \
    -H "Content-Type: application/json" -X POST "$url/api/v1/jobs" -d @- <<EOF
{"TrainingJobName": "$1", "Repository": "queue-test",
 "AlgorithmSpecification": {"EntryPoint": ["/bin/sh", "user.sh"], "SourceDir": "$work/inputs/src"},
 "InputDataConfig": [{"ChannelName": "train",
   "DataSource": {"FileDataSource": {"Path": "$work/inputs/train.csv"}}}],
 "OutputDataConfig": {"ModelName": "queue-test"},
 "Environment": {"ORDER_FILE": "$work/order"}}
EOF
}

status_of() {
  curl -sf "$url/api/v1/jobs/$1" | jq -r '.TrainingJobStatus + "/" + .SecondaryStatus'
}

start_server
ids=()
for name in run-1 run-2 run-3; do
  id=$(submit "$name" | jq -r .JobId) || fail "submit of $name failed"
  ids+=("$id")
done
[ "$(status_of "${ids[1]}")" = "InProgress/Pending" ] || fail "run-2 is $(status_of "${ids[1]}"), expected InProgress/Pending"
[ "$(status_of "${ids[2]}")" = "InProgress/Pending" ] || fail "run-3 is $(status_of "${ids[2]}"), expected InProgress/Pending"

# Kill the server while run-1 runs, then start it again on the same port.
kill_server
start_server

# Every job completes within 60 s.
for i in 0 1 2; do
  for _ in $(seq 1 300); do
    case "$(status_of "${ids[$i]}")" in
      Completed/*) break ;;
      Failed/* | Stopped/*) fail "job ${ids[$i]} ended $(status_of "${ids[$i]}")" ;;
    esac
    sleep 0.2
  done
  [ "$(status_of "${ids[$i]}")" = "Completed/Completed" ] || fail "job ${ids[$i]} did not complete"
done

order=$(tr '\n' ' ' <"$work/order")
[ "$order" = "run-1 run-2 run-3 " ] || fail "jobs started in the order \"$order\""
echo "queue kept across a restart; jobs started in submission order: $order"
