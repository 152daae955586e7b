#!/usr/bin/env bash
# Runs tandem end to end on one machine. The script installs what is missing, builds tandem and
# prepares 3 million real flights. It then starts the control plane, trains an XGBoost delay model
# as a job, serves the registered model and sends it 10 held-out flights through both inference
# protocols.
#
#   bash scripts/demo.sh
#
# Leaves the control plane running (the last lines say where and how to stop it) and stops the
# inference server it started. Exits 0 only when every step worked and the model's validation
# RMSE beats the baseline (the training mean predicted for every flight).
#
# Environment (all optional): TANDEM_DEMO_PORT (control plane, default 8500),
# TANDEM_DEMO_SERVE_PORT (inference server, default 8080), TANDEM_DEMO_SKIP_INSTALL=1 (skip
# scripts/install-deps.sh, for a machine without root).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA_DIR="${REPO_ROOT}/.data"
DEMO_DIR="${DATA_DIR}/demo"
INPUT_ROOT="${DATA_DIR}/inputs"
FLIGHTS_DIR="${INPUT_ROOT}/flights"
TANDEM="${REPO_ROOT}/build/default/src/cli/tandem"
MODEL_NAME="flights-delay"
SAMPLE_FLIGHTS=10

# Bounds, in seconds, of every wait.
HEALTH_TIMEOUT=30
JOB_TIMEOUT=3700  # the job's own MaxRuntimeInSeconds is 3600
SERVE_READY_TIMEOUT=120
STOP_TIMEOUT=15

SERVE_PID=""
CURRENT_STEP="starting"
CURRENT_LOGS=()
DEMO_START=${SECONDS}

# ---------------------------------------------------------------------------------------------
# Output and failure handling

# Starts a step: step TITLE [LOG_FILE...]. A failure shows the end of each log file.
step() {
  CURRENT_STEP="$1"
  CURRENT_LOGS=("${@:2}")
  STEP_START=${SECONDS}
  printf '\n==> %s\n' "$1"
  if [[ ${#CURRENT_LOGS[@]} -gt 0 ]]; then printf '    log: %s\n' "${CURRENT_LOGS[@]}"; fi
}

step_done() { printf '    done in %d s\n' $((SECONDS - STEP_START)); }

fail() {
  printf '\ndemo: error: %s failed: %s\n' "${CURRENT_STEP}" "$*" >&2
  local log_file
  for log_file in "${CURRENT_LOGS[@]}"; do
    [[ -s "${log_file}" ]] || continue
    printf 'demo: last lines of %s:\n' "${log_file}" >&2
    tail -n 25 "${log_file}" | sed 's/^/    /' >&2
  done
  exit 1
}

# Stops the inference server on every exit, error or not; the control plane stays up.
cleanup() {
  local status=$?
  if [[ -n "${SERVE_PID}" ]]; then
    stop_process "${SERVE_PID}" || true
  fi
  if [[ ${status} -ne 0 ]]; then
    printf 'demo: stopped at step "%s"; logs are in %s\n' "${CURRENT_STEP}" "${DEMO_DIR}" >&2
  fi
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------------
# Processes and ports

# Succeeds when something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Prints the first port from $1 to $1+19 that nothing listens on.
free_port() {
  local port
  for ((port = $1; port < $1 + 20; port++)); do
    if ! port_in_use "${port}"; then
      echo "${port}"
      return
    fi
  done
  fail "ports $1 to $(($1 + 19)) on 127.0.0.1 are all in use"
}

is_running() { kill -0 "$1" 2>/dev/null; }

# Sends SIGTERM to PID and waits up to STOP_TIMEOUT seconds, then sends SIGKILL.
stop_process() {
  local pid=$1
  is_running "${pid}" || return 0
  kill -TERM "${pid}" 2>/dev/null || return 0
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while is_running "${pid}" && ((SECONDS < deadline)); do sleep 0.2; done
  if is_running "${pid}"; then
    printf 'demo: process %s did not stop within %d s of SIGTERM; sending SIGKILL\n' \
      "${pid}" "${STOP_TIMEOUT}" >&2
    kill -KILL "${pid}" 2>/dev/null || true
  fi
}

# Waits until a GET of URL returns 2xx, for at most TIMEOUT seconds, failing early if PID exits.
wait_for_url() {
  local url=$1 pid=$2 timeout=$3
  local deadline=$((SECONDS + timeout))
  until curl -fsS --max-time 2 -o /dev/null "${url}" 2>/dev/null; do
    is_running "${pid}" || fail "the process (pid ${pid}) exited before ${url} answered"
    ((SECONDS < deadline)) || fail "${url} did not answer within ${timeout} s"
    sleep 0.5
  done
}

# ---------------------------------------------------------------------------------------------
# Steps

install_and_build() {
  if [[ "${TANDEM_DEMO_SKIP_INSTALL:-0}" != 1 ]]; then
    step "Installing missing packages (scripts/install-deps.sh)"
    bash "${REPO_ROOT}/scripts/install-deps.sh" || fail "scripts/install-deps.sh exited with an error"
    step_done
  fi
  local tool
  for tool in cmake curl jq node; do
    command -v "${tool}" >/dev/null || fail "${tool} is not installed; run scripts/install-deps.sh"
  done

  mkdir -p "${DEMO_DIR}"
  local build_log="${DEMO_DIR}/build.log"
  step "Building tandem (preset default; the first build takes several minutes)" "${build_log}"
  {
    cmake --preset default -S "${REPO_ROOT}" &&
      cmake --build --preset default --target tandem -j "$(nproc)"
  } >"${build_log}" 2>&1 || fail "the build exited with an error"
  [[ -x "${TANDEM}" ]] || fail "the build finished but ${TANDEM} is missing"
  step_done
}

prepare_data() {
  step "Preparing the flights data (scripts/prepare-flights.sh)"
  bash "${REPO_ROOT}/scripts/prepare-flights.sh" "${DATA_DIR}" ||
    fail "scripts/prepare-flights.sh exited with an error"
  step_done
}

# Stops a control plane left by an earlier run of this script, so that the one now running is
# the binary just built. Only a process whose command line is a tandem server is stopped.
stop_previous_server() {
  local pid_file="${DEMO_DIR}/server.pid"
  [[ -f "${pid_file}" ]] || return 0
  local pid
  pid="$(cat "${pid_file}")"
  if is_running "${pid}" && tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null | grep -q 'tandem server'; then
    echo "    stopping the control plane of an earlier run (pid ${pid})"
    stop_process "${pid}"
  fi
  rm -f "${pid_file}"
}

start_control_plane() {
  local log_file="${DEMO_DIR}/server.log"
  step "Starting the control plane" "${log_file}" "${DEMO_DIR}/server.out"
  stop_previous_server
  local port
  port="$(free_port "${TANDEM_DEMO_PORT:-8500}")"
  API_URL="http://127.0.0.1:${port}"

  # setsid detaches the server from this terminal, so that it outlives the script.
  setsid nohup "${TANDEM}" server --data-dir "${DEMO_DIR}" --host 127.0.0.1 --port "${port}" \
    --input-root "${INPUT_ROOT}" --log-file "${log_file}" --log-level info \
    >"${DEMO_DIR}/server.out" 2>&1 </dev/null &
  local pid=$!
  echo "${pid}" >"${DEMO_DIR}/server.pid"
  echo "${API_URL}" >"${DEMO_DIR}/server.url"

  wait_for_url "${API_URL}/api/v1/health" "${pid}" "${HEALTH_TIMEOUT}"
  [[ -s "${DEMO_DIR}/admin.token" ]] || fail "the server did not create ${DEMO_DIR}/admin.token"
  # Client commands read the URL from TANDEM_URL; `--data-dir` points the mutating ones at the
  # admin token file, so that the token never enters an environment or a command line.
  export TANDEM_URL="${API_URL}"
  echo "    control plane: ${API_URL} (pid ${pid})"
  step_done
}

train_model() {
  local job_name
  job_name="${MODEL_NAME}-$(date -u +%Y%m%d-%H%M%S)"
  step "Submitting examples/flights/job.json as ${job_name}"
  local submitted
  submitted="$(TANDEM_FLIGHTS_DIR="${FLIGHTS_DIR}" \
    "${TANDEM}" job submit "${REPO_ROOT}/examples/flights/job.json" --name "${job_name}" \
    --data-dir "${DEMO_DIR}")" ||
    fail "tandem job submit exited with an error"
  JOB_ID="$(tail -n 1 <<<"${submitted}" | tr -d '[:space:]')"
  [[ -n "${JOB_ID}" ]] || fail "tandem job submit printed no job id"
  local job_log="${DEMO_DIR}/jobs/${JOB_ID}/job.log"
  echo "    job ${JOB_ID}"

  step "Training: 2.7 million flights, 200 rounds of depth-8 trees (tandem job wait ${JOB_ID})" \
    "${job_log}"
  # `timeout` guards against a client that hangs; --timeout is the bound that normally ends it.
  if ! timeout --foreground $((JOB_TIMEOUT + 60)) \
      "${TANDEM}" job wait "${JOB_ID}" --timeout "${JOB_TIMEOUT}"; then
    "${TANDEM}" job describe "${JOB_ID}" >&2 || true
    fail "job ${JOB_ID} did not complete"
  fi
  step_done

  MODEL_VERSION="$("${TANDEM}" job describe "${JOB_ID}" --json | jq -r '.ModelVersion.Version // empty')"
  [[ -n "${MODEL_VERSION}" ]] || fail "job ${JOB_ID} completed but registered no model version"
}

show_model() {
  step "The registered model: tandem model describe ${MODEL_NAME}:${MODEL_VERSION}"
  "${TANDEM}" model describe "${MODEL_NAME}:${MODEL_VERSION}" ||
    fail "tandem model describe exited with an error"

  local version_json
  version_json="$("${TANDEM}" model describe "${MODEL_NAME}:${MODEL_VERSION}" --json)" ||
    fail "tandem model describe --json exited with an error"
  RMSE="$(jq -r '.Manifest.Metrics.Rmse // empty' <<<"${version_json}")"
  BASELINE_RMSE="$(jq -r '.Manifest.Metrics.BaselineRmse // empty' <<<"${version_json}")"
  [[ -n "${RMSE}" && -n "${BASELINE_RMSE}" ]] ||
    fail "the manifest of ${MODEL_NAME}:${MODEL_VERSION} lacks Metrics.Rmse or Metrics.BaselineRmse"
}

start_inference_server() {
  local log_file="${DEMO_DIR}/serve.log"
  step "Serving ${MODEL_NAME}:${MODEL_VERSION}" "${log_file}"
  local port
  port="$(free_port "${TANDEM_DEMO_SERVE_PORT:-8080}")"
  SERVE_URL="http://127.0.0.1:${port}"
  "${TANDEM}" serve --model "${MODEL_NAME}:${MODEL_VERSION}" --registry "${API_URL}" \
    --host 127.0.0.1 --port "${port}" >"${log_file}" 2>&1 </dev/null &
  SERVE_PID=$!
  wait_for_url "${SERVE_URL}/v2/health/ready" "${SERVE_PID}" "${SERVE_READY_TIMEOUT}"
  echo "    inference server: ${SERVE_URL} (pid ${SERVE_PID})"
  step_done
}

# Sends the last SAMPLE_FLIGHTS flights of the validation file (never seen in training) as raw
# records through SageMaker's /invocations and the Open Inference Protocol, and prints both
# predictions next to the true delay.
predict_held_out_flights() {
  local validation="${FLIGHTS_DIR}/validation/flights.csv"
  step "Predicting ${SAMPLE_FLIGHTS} held-out flights (the end of ${validation})" \
    "${DEMO_DIR}/serve.log"

  # Fields: date,delay,distance,origin,destination; the example data has no quoted fields.
  local records
  records="$(tail -n "${SAMPLE_FLIGHTS}" "${validation}" | jq -R -s -c '
    split("\n") | map(select(length > 0) | split(",")
      | {date: .[0], delay: (.[1] | tonumber), distance: (.[2] | tonumber),
         origin: .[3], destination: .[4]})')"

  local invocations_request oip_request
  invocations_request="$(jq -c '{instances: map(del(.delay))}' <<<"${records}")"
  oip_request="$(jq -c '{inputs: [
      {name: "date", datatype: "BYTES", shape: [length], data: map(.date)},
      {name: "distance", datatype: "FP64", shape: [length], data: map(.distance)},
      {name: "origin", datatype: "BYTES", shape: [length], data: map(.origin)},
      {name: "destination", datatype: "BYTES", shape: [length], data: map(.destination)}]}' \
    <<<"${records}")"

  local invocations_response oip_response
  invocations_response="$(curl -fsS --max-time 30 -H 'Content-Type: application/json' \
    --data-binary "${invocations_request}" "${SERVE_URL}/invocations")" ||
    fail "POST ${SERVE_URL}/invocations failed"
  oip_response="$(curl -fsS --max-time 30 -H 'Content-Type: application/json' \
    --data-binary "${oip_request}" "${SERVE_URL}/v2/models/${MODEL_NAME}/infer")" ||
    fail "POST ${SERVE_URL}/v2/models/${MODEL_NAME}/infer failed"

  # Prints the table and fails when the two protocols disagree on any prediction.
  jq -r -n --argjson records "${records}" --argjson sagemaker "${invocations_response}" \
    --argjson oip "${oip_response}" '
    ($sagemaker.predictions | map(if type == "object" then (.score // .prediction) else . end))
      as $a
    | ($oip.outputs[] | select(.name == "prediction") | .data) as $b
    | if ($a | length) != ($records | length) or ($b | length) != ($records | length)
      then error("expected \($records | length) predictions, got \($a | length) from " +
                 "/invocations and \($b | length) from OIP infer") else . end
    | ["date", "from", "to", "miles", "/invocations", "OIP infer", "true delay"],
      ($records | to_entries[] | .key as $i | .value
        | [.date, .origin, .destination, (.distance | tostring),
           ($a[$i] | tostring), ($b[$i] | tostring),
           (.delay | tostring)])
    | @tsv' | awk -F'\t' '
      NR == 1 { printf "    %-16s  %-4s  %-4s  %5s  %12s  %9s  %10s\n", $1, $2, $3, $4, $5, $6, $7 }
      NR > 1 { printf "    %-16s  %-4s  %-4s  %5s  %12.2f  %9.2f  %10s\n", $1, $2, $3, $4, $5, $6, $7 }' ||
    fail "the inference responses could not be read (see above)"

  jq -e -n --argjson sagemaker "${invocations_response}" --argjson oip "${oip_response}" '
    ($sagemaker.predictions | map(if type == "object" then (.score // .prediction) else . end))
      as $a
    | ($oip.outputs[] | select(.name == "prediction") | .data) as $b
    | [range($a | length)] | all(($a[.] - $b[.]) | fabs <= 1e-4)' >/dev/null ||
    fail "/invocations and OIP infer returned different predictions for the same flights"
  echo "    delays in minutes; predictions rounded to 0.01"
}

check_metrics() {
  step "Checking the model against the baseline"
  printf '    validation RMSE %.3f min, baseline RMSE %.3f min (the training mean for every flight)\n' \
    "${RMSE}" "${BASELINE_RMSE}"
  awk -v rmse="${RMSE}" -v baseline="${BASELINE_RMSE}" 'BEGIN { exit !(rmse < baseline) }' ||
    fail "the model's validation RMSE ${RMSE} does not beat the baseline ${BASELINE_RMSE}"
  echo "    the model beats the baseline"
}

stop_inference_server() {
  step "Stopping the inference server"
  stop_process "${SERVE_PID}"
  SERVE_PID=""
  step_done
}

print_summary() {
  local pid
  pid="$(cat "${DEMO_DIR}/server.pid")"
  cat <<EOF

Demo finished in $((SECONDS - DEMO_START)) s. The control plane is still running:
  API            ${API_URL}/api/v1   (docs/api.md)
  data directory ${DEMO_DIR}   (tandem.db, jobs/, admin.token)
  logs           ${DEMO_DIR}/server.log, ${DEMO_DIR}/jobs/${JOB_ID}/job.log
  try            export TANDEM_URL=${API_URL}
                 ${TANDEM} job list
                 ${TANDEM} model describe ${MODEL_NAME}:${MODEL_VERSION}
                 ${TANDEM} serve --model ${MODEL_NAME}:${MODEL_VERSION} --registry ${API_URL}
  stop it with   kill ${pid}   (its pid is in ${DEMO_DIR}/server.pid)
EOF
}

main() {
  install_and_build
  prepare_data
  start_control_plane
  train_model
  show_model
  start_inference_server
  predict_held_out_flights
  stop_inference_server
  check_metrics
  print_summary
}

main "$@"
