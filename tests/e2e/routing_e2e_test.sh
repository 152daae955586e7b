#!/bin/bash
# Routing end to end through the real binary: one `tandem server --config`
# with two local backends ("local" and "local-b"). It checks four things.
# Two repositories run on two backends at once. A spec may name only a backend
# its route allows. `job submit --compare-with` reports no differences between
# the two backends. SIGHUP reloads the routes, and a bad file keeps the old ones. With SLURM_CONF (a running cluster's
# slurm.conf), a third backend "hpc" of type slurm runs the "hpc" repository
# at the same time as a local job.
# Usage: routing_e2e_test.sh TANDEM_BINARY SOURCE_DIR [SLURM_CONF]
set -u
tandem=$1
source_dir=$2
slurm_conf=${3:-}
work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*"
  echo "--- server log"; cat "$work/server.log"
  exit 1
}

# Waits (at most 20 s, polling every 0.2 s) until FILE contains TEXT.
wait_for() {
  for _ in $(seq 1 100); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  fail "timed out waiting for \"$2\" in $1"
}

write_config() {
  local slurm_backend="" slurm_route="" flights_allowed='"local-b"'
  if [ -n "$slurm_conf" ]; then
    flights_allowed='"local-b", "hpc"'
    slurm_backend=", \"hpc\": {\"Type\": \"slurm\", \"SlurmConf\": \"$slurm_conf\"}"
    slurm_route=", {\"Repository\": \"hpc\", \"Backend\": \"hpc\"}"
  fi
  cat >"$work/routing.json.tmp" <<EOF
{
  "Backends": {"local": {"Type": "local"}, "local-b": {"Type": "local"}$slurm_backend},
  "Routes": [
    {"Repository": "flights", "Backend": "local", "AllowedBackends": [$flights_allowed]},
    {"Repository": "churn*", "Backend": "$1"}$slurm_route
  ]
}
EOF
  mv "$work/routing.json.tmp" "$work/routing.json"
}

# Writes a copy of the small flights spec with absolute input paths, the
# given name and repository, and an optional Backend line.
write_spec() {
  local file=$1 name=$2 repository=$3 backend=${4:-}
  sed -e "s|\"TrainingJobName\": \"[^\"]*\"|\"TrainingJobName\": \"$name\"|" \
      -e "s|\"Repository\": \"flights\"|\"Repository\": \"$repository\"${backend:+, \"Backend\": \"$backend\"}|" \
      -e "s|\\.\\./\\.\\./tests/data|$source_dir/tests/data|g" \
      "$source_dir/examples/flights/job-small.json" >"$file"
}

backend_of() {
  "$tandem" job describe --json "$1" | grep -A2 '"Backend": {' | grep '"Name"' | sed 's/.*"Name": "\([^"]*\)".*/\1/'
}

# A server refuses to start on a missing or invalid file, naming it.
mkdir -p "$work/data"
if output=$(timeout 20 "$tandem" server --data-dir "$work/data" --port 0 \
    --config "$work/missing.json" 2>&1); then fail "started without its config file"; fi
echo "$output" | grep -q "$work/missing.json" || fail "missing file not named: $output"
echo '{"Backends": {"a": {"Type": "local"}}, "Routes": [{"Repository": "x", "Backend": "b"}]}' \
  >"$work/bad.json"
if output=$(timeout 20 "$tandem" server --data-dir "$work/data" --port 0 \
    --config "$work/bad.json" 2>&1); then fail "started with a route to an unknown backend"; fi
echo "$output" | grep -q 'Routes\[0\].Backend: backend "b" is not defined' ||
  fail "unknown backend not named: $output"
write_config local-b
if output=$(timeout 20 "$tandem" server --data-dir "$work/data" --port 0 \
    --config "$work/routing.json" --config-poll-seconds 0 2>&1); then fail "accepted poll 0"; fi
echo "$output" | grep -q "config-poll-seconds 0 is invalid" || fail "poll 0 not named: $output"
echo "server rejected a missing file, a bad file and a bad poll interval"

"$tandem" server --data-dir "$work/data" --port 0 --config "$work/routing.json" \
  --config-poll-seconds 1 --input-root "$source_dir/tests/data" >"$work/server.log" 2>&1 &
server_pid=$!
wait_for "$work/server.log" "control plane listening"
TANDEM_URL=$(sed -n 's/.*control plane listening url=\([^ ]*\).*/\1/p' "$work/server.log" | head -1)
TANDEM_TOKEN=$(cat "$work/data/admin.token")
export TANDEM_URL TANDEM_TOKEN

# Two repositories on two backends at once.
write_spec "$work/flights.json" flights-routed flights
write_spec "$work/churn.json" churn-routed churn
flights_job=$("$tandem" job submit "$work/flights.json") || fail "flights submit"
churn_job=$("$tandem" job submit "$work/churn.json") || fail "churn submit"
[ "$(backend_of "$flights_job")" = local ] || fail "flights job not on local"
[ "$(backend_of "$churn_job")" = local-b ] || fail "churn job not on local-b"
"$tandem" job describe "$churn_job" | grep -q "^Backend: *local-b pid:" ||
  fail "describe does not show the backend and its native id"
"$tandem" job wait --timeout 300 "$flights_job" >/dev/null || fail "flights job did not complete"
"$tandem" job wait --timeout 300 "$churn_job" >/dev/null || fail "churn job did not complete"
echo "two repositories ran on two backends"

if [ -n "$slurm_conf" ]; then
  write_spec "$work/hpc.json" hpc-routed hpc
  write_spec "$work/flights2.json" flights-beside-slurm flights
  hpc_job=$("$tandem" job submit "$work/hpc.json") || fail "hpc submit"
  local_job=$("$tandem" job submit "$work/flights2.json") || fail "local submit beside slurm"
  [ "$(backend_of "$hpc_job")" = hpc ] || fail "hpc job not on the slurm backend"
  "$tandem" job describe "$hpc_job" | grep -q "^Backend: *hpc slurm:" ||
    fail "describe does not show the Slurm job id"
  "$tandem" job wait --timeout 300 "$hpc_job" >/dev/null || fail "slurm job did not complete"
  "$tandem" job wait --timeout 300 "$local_job" >/dev/null || fail "local job beside slurm did not complete"
  echo "one repository ran on slurm while another ran locally"

  # The same spec on the local and the Slurm backend gives the same model.
  write_spec "$work/compare-slurm.json" flights-slurm flights
  "$tandem" job submit "$work/compare-slurm.json" --compare-with hpc --timeout 300 \
    >"$work/compare-slurm.out" 2>&1 || { cat "$work/compare-slurm.out"; fail "local and slurm differ"; }
  grep -q "result: no differences" "$work/compare-slurm.out" || fail "no report for slurm"
  cat "$work/compare-slurm.out"
fi

# A spec may name only the backends its route allows.
write_spec "$work/forbidden.json" churn-forbidden churn local
if output=$("$tandem" job submit "$work/forbidden.json" 2>&1); then fail "forbidden backend accepted"; fi
echo "$output" | grep -q 'may not run on backend "local"' || fail "unexpected error: $output"
write_spec "$work/unrouted.json" billing-1 billing
if output=$("$tandem" job submit "$work/unrouted.json" 2>&1); then fail "unrouted repository accepted"; fi
echo "$output" | grep -q 'Repository: "billing" matches no route' || fail "unexpected error: $output"
echo "forbidden backend and unrouted repository rejected"

# The same spec on both backends gives the same model.
write_spec "$work/compare.json" flights-compare flights
"$tandem" job submit "$work/compare.json" --compare-with local-b --timeout 300 >"$work/compare.out" 2>&1 ||
  { cat "$work/compare.out"; fail "compare run found differences or failed"; }
grep -q "result: no differences" "$work/compare.out" || { cat "$work/compare.out"; fail "no report"; }
grep -q "flights-compare-vs-local-b" "$work/compare.out" || fail "second run not named"
grep "self-test predictions" "$work/compare.out" | grep -q " 0 differ" || fail "predictions differ"
cat "$work/compare.out"

# SIGHUP applies a new file; a bad file keeps the routes in force.
write_config local
kill -HUP "$server_pid"
wait_for "$work/server.log" "routing configuration reloaded"
write_spec "$work/churn2.json" churn-after-reload churn
churn2_job=$("$tandem" job submit "$work/churn2.json") || fail "submit after reload"
[ "$(backend_of "$churn2_job")" = local ] || fail "reloaded route not applied"
[ "$(backend_of "$churn_job")" = local-b ] || fail "earlier job lost its backend"
echo '{"Backends": {}}' >"$work/routing.json"
wait_for "$work/server.log" "routing configuration not reloaded"
write_spec "$work/churn3.json" churn-after-bad-file churn
churn3_job=$("$tandem" job submit "$work/churn3.json") || fail "submit after bad file"
[ "$(backend_of "$churn3_job")" = local ] || fail "bad file changed the routes"
"$tandem" job wait --timeout 300 "$churn2_job" >/dev/null || fail "job after reload did not complete"
"$tandem" job wait --timeout 300 "$churn3_job" >/dev/null || fail "job after bad file did not complete"
echo "reload applied a good file and kept the routes over a bad one"
