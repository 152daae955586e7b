#!/usr/bin/env bash
# Benchmarks `tandem serve` against two peers under the same wrk load on this machine.
#   tandem  `tandem serve` on a flights model package.
#   flask   Flask under Gunicorn (2 sync workers) with python3-xgboost, the stack the modeled
#           platform serves with. It runs the same feature pipeline and model (flask_app.py).
#   nginx   nginx returning a fixed JSON reply, an upper bound for any HTTP server here.
# Each server runs alone, on 127.0.0.1 only. It gets the same single-row OIP v2 JSON request,
# the package's first self-test record as one tensor per raw field. wrk with 2 threads and 16
# connections sends it, first for a warm-up, then for the measured run. The script prints one
# table and the ratios, and with --save writes them to bench/serving/results-<date>.md.
#
#   bash bench/serving/run.sh [options] [PACKAGE_DIR]
#
# PACKAGE_DIR is a model package (manifest.json and model.json) of the flights model. Without
# it the script trains one, stand-alone, on the committed slice tests/data/flights. It uses the
# hyperparameters of examples/flights/job.json (200 rounds, depth 8) and runs
#   tandem train --job-root .data/bench-serving/job --spec .data/bench-serving/spec.json
# which takes about a minute on 2 cores. Later runs reuse .data/bench-serving/job/model.
# scripts/demo.sh also leaves a package of the full data set: `tandem model describe` shows it.
#
# Options:
#   --tandem PATH      the tandem binary (default: $TANDEM_BIN, else the newest
#                      build/*/src/cli/tandem)
#   --duration S       seconds of each measured run (default 10)
#   --warmup S         seconds of the warm-up run before it (default 2)
#   --threads N        `tandem serve --threads` (default 2)
#   --pin-threads      run `tandem serve --pin-threads` (each HTTP thread on its own CPU)
#   --only LIST        comma-separated servers to run, of tandem,flask,nginx (default all)
#   --save             also write the table to bench/serving/results-<UTC date>.md
#
# Installs nothing: a missing tool is named with the Debian package that has it
# (scripts/install-deps.sh installs them all). Every server it starts is stopped on exit, even
# after a failure. Exits 0 when every run finished, whether or not the targets were met.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${SCRIPT_DIR}/../.." && pwd)"
PYTHON=/usr/bin/python3

# Load, as in the project's reference measurements.
WRK_THREADS=2
WRK_CONNECTIONS=16
DURATION=10
WARMUP=2
SERVE_THREADS=2
PIN_THREADS=0
SERVERS="tandem,flask,nginx"
SAVE=0
PACKAGE_DIR=""
TANDEM_BIN="${TANDEM_BIN:-}"

# Targets reported against.
TARGET_FLASK_RATIO=20     # tandem requests/s at least this many times Flask's
TARGET_NGINX_PERCENT=75   # tandem requests/s at least this share of nginx's
TARGET_P99_MS=2           # tandem p99 latency at most this

# Bounds, in seconds, of every wait.
READY_TIMEOUT=60
STOP_TIMEOUT=15
TRAIN_TIMEOUT=900

WORK_DIR=""
PIDS=()

log() { printf 'bench: %s\n' "$*" >&2; }
fail() {
  printf 'bench: error: %s\n' "$*" >&2
  exit 1
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

# ---------------------------------------------------------------------------------------------
# Processes

is_running() { kill -0 "$1" 2>/dev/null; }

# Sends SIGTERM to PID, waits up to STOP_TIMEOUT seconds, then sends SIGKILL.
stop_process() {
  local pid=$1
  is_running "${pid}" || return 0
  kill -TERM "${pid}" 2>/dev/null || return 0
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while is_running "${pid}" && ((SECONDS < deadline)); do sleep 0.2; done
  if is_running "${pid}"; then
    log "process ${pid} did not stop within ${STOP_TIMEOUT} s of SIGTERM; sending SIGKILL"
    kill -KILL "${pid}" 2>/dev/null || true
  fi
  wait "${pid}" 2>/dev/null || true
}

# Stops every server still running and removes the work directory, on any exit.
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_process "${pid}"; done
  if [[ -n "${WORK_DIR}" && -d "${WORK_DIR}" ]]; then rm -rf "${WORK_DIR}"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Prints the first port from $1 to $1+49 that nothing listens on.
free_port() {
  local port
  for ((port = $1; port < $1 + 50; port++)); do
    if ! port_in_use "${port}"; then
      echo "${port}"
      return
    fi
  done
  fail "ports $1 to $(($1 + 49)) on 127.0.0.1 are all in use"
}

# Waits until a GET of URL returns 2xx, for at most READY_TIMEOUT seconds; fails early when
# PID exits, showing the end of LOG.
wait_ready() {
  local url=$1 pid=$2 log_file=$3
  local deadline=$((SECONDS + READY_TIMEOUT))
  until curl -fsS --max-time 2 -o /dev/null "${url}" 2>/dev/null; do
    if ! is_running "${pid}"; then
      tail -n 20 "${log_file}" >&2 || true
      fail "the server (pid ${pid}) exited before ${url} answered; its log is above"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 20 "${log_file}" >&2 || true
      fail "${url} did not answer within ${READY_TIMEOUT} s; the server's log is above"
    fi
    sleep 0.2
  done
}

# ---------------------------------------------------------------------------------------------
# Arguments and prerequisites

parse_args() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --tandem) TANDEM_BIN="${2:?--tandem needs a path}"; shift 2 ;;
      --duration) DURATION="${2:?--duration needs seconds}"; shift 2 ;;
      --warmup) WARMUP="${2:?--warmup needs seconds}"; shift 2 ;;
      --threads) SERVE_THREADS="${2:?--threads needs a count}"; shift 2 ;;
      --pin-threads) PIN_THREADS=1; shift ;;
      --only) SERVERS="${2:?--only needs a list}"; shift 2 ;;
      --save) SAVE=1; shift ;;
      -h | --help) usage; exit 0 ;;
      -*) fail "unknown option $1; see --help" ;;
      *)
        [[ -z "${PACKAGE_DIR}" ]] || fail "more than one PACKAGE_DIR given: ${PACKAGE_DIR} and $1"
        PACKAGE_DIR="$1"; shift ;;
    esac
  done
  local value
  for value in "${DURATION}" "${WARMUP}" "${SERVE_THREADS}"; do
    [[ "${value}" =~ ^[1-9][0-9]*$ ]] || fail "invalid count ${value}: expected a positive integer"
  done
  local server
  for server in ${SERVERS//,/ }; do
    [[ "${server}" =~ ^(tandem|flask|nginx)$ ]] ||
      fail "--only: unknown server ${server}; expected tandem, flask or nginx"
  done
}

wants() { [[ ",${SERVERS}," == *",$1,"* ]]; }

# Fails with the Debian packages to install when a tool is missing.
check_tools() {
  local missing=()
  command -v wrk >/dev/null || missing+=(wrk)
  command -v curl >/dev/null || missing+=(curl)
  command -v jq >/dev/null || missing+=(jq)
  [[ -x "${PYTHON}" ]] || missing+=(python3)
  if [[ -x "${PYTHON}" ]]; then
    "${PYTHON}" -c 'import numpy' 2>/dev/null || missing+=(python3-numpy)
    "${PYTHON}" -c 'import xgboost' 2>/dev/null || missing+=(python3-xgboost)
    if wants flask; then
      "${PYTHON}" -c 'import flask' 2>/dev/null || missing+=(python3-flask)
    fi
  fi
  if wants flask; then command -v gunicorn >/dev/null || missing+=(gunicorn); fi
  if wants nginx; then
    command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
  fi
  if [[ ${#missing[@]} -gt 0 ]]; then
    fail "missing Debian packages: ${missing[*]}; install them with
  sudo apt-get install ${missing[*]}
or run scripts/install-deps.sh"
  fi
}

find_tandem() {
  if [[ -z "${TANDEM_BIN}" ]]; then
    # The newest executable one; a binary still being linked lacks the execute bit.
    local candidate
    while read -r candidate; do
      if [[ -x "${candidate}" ]]; then
        TANDEM_BIN="${candidate}"
        break
      fi
    done < <(ls -t "${REPO_ROOT}"/build/*/src/cli/tandem 2>/dev/null || true)
  fi
  [[ -n "${TANDEM_BIN}" ]] ||
    fail "no tandem binary under ${REPO_ROOT}/build/*/src/cli/; build one (cmake --preset default && cmake --build --preset default --target tandem) or pass --tandem PATH"
  [[ -x "${TANDEM_BIN}" ]] || fail "--tandem ${TANDEM_BIN} is not an executable file"
}

# ---------------------------------------------------------------------------------------------
# The model package and the request

# Trains the flights model on tests/data/flights into .data/bench-serving/job/model, unless an
# earlier run left a package there.
train_package() {
  local bench_data="${REPO_ROOT}/.data/bench-serving"
  PACKAGE_DIR="${bench_data}/job/model"
  if [[ -f "${PACKAGE_DIR}/manifest.json" && -f "${PACKAGE_DIR}/model.json" &&
        ! -s "${bench_data}/job/output/failure" ]]; then
    log "using the package trained by an earlier run: ${PACKAGE_DIR}"
    return
  fi
  find_tandem
  rm -rf "${bench_data}/job"
  mkdir -p "${bench_data}"
  local flights="${REPO_ROOT}/tests/data/flights"
  jq --arg flights "${flights}" '
      .TrainingJobName = "bench-flights"
    | .InputDataConfig[0].DataSource.FileDataSource.Path = ($flights + "/train")
    | .InputDataConfig[1].DataSource.FileDataSource.Path = ($flights + "/validation")' \
    "${REPO_ROOT}/examples/flights/job.json" >"${bench_data}/spec.json"
  log "no PACKAGE_DIR given: training the flights model (200 rounds, depth 8) on ${flights}"
  log "  log: ${bench_data}/train.log"
  if ! timeout "${TRAIN_TIMEOUT}" "${TANDEM_BIN}" train --job-root "${bench_data}/job" \
       --spec "${bench_data}/spec.json" >"${bench_data}/train.log" 2>&1; then
    tail -n 20 "${bench_data}/train.log" >&2 || true
    fail "tandem train failed; its log is above (${bench_data}/train.log)"
  fi
}

check_package() {
  [[ -f "${PACKAGE_DIR}/manifest.json" ]] || fail "${PACKAGE_DIR}/manifest.json not found; PACKAGE_DIR must be a model package directory"
  PACKAGE_DIR="$(cd "${PACKAGE_DIR}" && pwd)"
  MANIFEST="${PACKAGE_DIR}/manifest.json"
  MODEL_NAME="$(jq -r '.ModelName // empty' "${MANIFEST}")"
  [[ -n "${MODEL_NAME}" ]] || fail "${MANIFEST} has no ModelName"
  jq -e '(.SelfTests | length) > 0' "${MANIFEST}" >/dev/null ||
    fail "${MANIFEST} has no SelfTests; the benchmark sends the first self-test record"
  EXPECTED="$(jq -r '.SelfTests[0].Expected' "${MANIFEST}")"
  [[ -f "${PACKAGE_DIR}/$(jq -r '.ModelFile // "model.json"' "${MANIFEST}")" ]] ||
    fail "${PACKAGE_DIR} lacks the model file named by ModelFile in manifest.json"
}

# Writes the OIP v2 request: the first self-test record, one tensor per raw field (numbers as
# FP64, strings and datetimes as BYTES).
write_request() {
  REQUEST_FILE="${WORK_DIR}/request.json"
  jq -c '.SelfTests[0].Record as $record | {inputs: [.InputSchema[] | {
      name: .Name,
      datatype: (if .Type == "number" then "FP64" else "BYTES" end),
      shape: [1],
      data: [$record[.Name]]}]}' "${MANIFEST}" >"${REQUEST_FILE}"
  INFER_PATH="/v2/models/${MODEL_NAME}/infer"
}

# Sends the request once and checks the reply: 200, and where CHECK_PREDICTION is 1 a
# prediction equal to the self-test's expected value (float32, so within 1e-6 relative).
check_reply() {
  local name=$1 url=$2 check_prediction=$3
  local reply status
  reply="$(curl -sS --max-time 10 -H 'Content-Type: application/json' \
    --data-binary "@${REQUEST_FILE}" -w '\n%{http_code}' "${url}")" ||
    fail "${name}: POST ${url} failed"
  status="${reply##*$'\n'}"
  reply="${reply%$'\n'*}"
  [[ "${status}" == 200 ]] || fail "${name}: POST ${url} returned HTTP ${status}: ${reply}"
  [[ "${check_prediction}" == 1 ]] || return 0
  jq -e --argjson expected "${EXPECTED}" '
      (.outputs[] | select(.name == "prediction") | .data[0]) as $got
    | (($got - $expected) | fabs) <= 1e-6 * ([($expected | fabs), 1] | max)' \
    <<<"${reply}" >/dev/null ||
    fail "${name}: the prediction in ${reply} differs from the expected ${EXPECTED}"
}

# ---------------------------------------------------------------------------------------------
# Servers: each start_* sets SERVER_PID and SERVER_URL.

start_tandem() {
  local port log_file="${WORK_DIR}/tandem.log"
  port="$(free_port 18080)"
  local pin=()
  ((PIN_THREADS)) && pin=(--pin-threads)
  "${TANDEM_BIN}" serve --model "${PACKAGE_DIR}" --host 127.0.0.1 --port "${port}" \
    --threads "${SERVE_THREADS}" "${pin[@]}" --drain-seconds 1 --log-level warn \
    >"${log_file}" 2>&1 </dev/null &
  SERVER_PID=$!
  PIDS+=("${SERVER_PID}")
  SERVER_URL="http://127.0.0.1:${port}"
  wait_ready "${SERVER_URL}/v2/health/ready" "${SERVER_PID}" "${log_file}"
}

start_flask() {
  local port log_file="${WORK_DIR}/gunicorn.log"
  port="$(free_port 18180)"
  # flask_app.py raises in a worker whose first self-test prediction is wrong, so that worker
  # does not boot and a mismatch fails here rather than being measured.
  TANDEM_BENCH_PACKAGE="${PACKAGE_DIR}" gunicorn --workers 2 --worker-class sync \
    --bind "127.0.0.1:${port}" --chdir "${SCRIPT_DIR}" --log-level warning \
    flask_app:app >"${log_file}" 2>&1 </dev/null &
  SERVER_PID=$!
  PIDS+=("${SERVER_PID}")
  SERVER_URL="http://127.0.0.1:${port}"
  wait_ready "${SERVER_URL}/v2/health/ready" "${SERVER_PID}" "${log_file}"
}

start_nginx() {
  local port dir="${WORK_DIR}/nginx"
  port="$(free_port 18280)"
  mkdir -p "${dir}"
  # The fixed reply has the shape and about the size of tandem's.
  local reply
  reply="$(jq -c -n --arg name "${MODEL_NAME}" --argjson value "${EXPECTED}" \
    '{model_name: $name, outputs: [{name: "prediction", datatype: "FP32", shape: [1], data: [$value]}]}')"
  cat >"${dir}/nginx.conf" <<EOF
daemon off;
worker_processes 2;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:${port};
    location / {
      default_type application/json;
      return 200 '${reply}';
    }
  }
}
EOF
  local nginx_bin
  nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
  # -e keeps nginx from opening its compiled-in /var/log/nginx/error.log before reading the
  # configuration; -p roots every relative path in the work directory.
  "${nginx_bin}" -p "${dir}" -e "${dir}/error.log" -c "${dir}/nginx.conf" \
    >"${dir}/stdout.log" 2>&1 </dev/null &
  SERVER_PID=$!
  PIDS+=("${SERVER_PID}")
  SERVER_URL="http://127.0.0.1:${port}"
  wait_ready "${SERVER_URL}/" "${SERVER_PID}" "${dir}/error.log"
}

# ---------------------------------------------------------------------------------------------
# Load

# Runs wrk against URL for SECONDS and prints its BENCH line.
run_wrk() {
  local url=$1 seconds=$2 output
  output="$(BENCH_BODY_FILE="${REQUEST_FILE}" timeout $((seconds + 30)) \
    wrk -t "${WRK_THREADS}" -c "${WRK_CONNECTIONS}" -d "${seconds}s" \
    -s "${SCRIPT_DIR}/post_request.lua" "${url}" 2>&1)" ||
    fail "wrk against ${url} failed: ${output}"
  grep '^BENCH ' <<<"${output}" || fail "wrk printed no BENCH line: ${output}"
}

# Prints field NAME of a BENCH line.
bench_field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

# Starts server NAME, checks one reply, warms it up, measures it, stops it, and records
# RPS_<NAME>, P50_<NAME>, P99_<NAME> (ms), NON2XX_<NAME> and SOCKET_<NAME>.
measure() {
  local name=$1 check_prediction=$2
  log "${name}: starting"
  "start_${name}"
  local url="${SERVER_URL}${INFER_PATH}"
  check_reply "${name}" "${url}" "${check_prediction}"

  log "${name}: warm-up ${WARMUP} s, then ${DURATION} s of load (wrk -t ${WRK_THREADS} -c ${WRK_CONNECTIONS})"
  run_wrk "${url}" "${WARMUP}" >/dev/null
  local line
  line="$(run_wrk "${url}" "${DURATION}")"
  stop_process "${SERVER_PID}"

  local requests duration_us
  requests="$(bench_field "${line}" requests)"
  duration_us="$(bench_field "${line}" duration_us)"
  printf -v "RPS_${name}" '%s' "$(awk -v r="${requests}" -v d="${duration_us}" 'BEGIN { printf "%.0f", r / (d / 1e6) }')"
  printf -v "P50_${name}" '%s' "$(awk -v v="$(bench_field "${line}" p50_us)" 'BEGIN { printf "%.3f", v / 1000 }')"
  printf -v "P99_${name}" '%s' "$(awk -v v="$(bench_field "${line}" p99_us)" 'BEGIN { printf "%.3f", v / 1000 }')"
  printf -v "NON2XX_${name}" '%s' "$(bench_field "${line}" status_errors)"
  local socket_errors=0 kind
  for kind in connect_errors read_errors write_errors timeouts; do
    socket_errors=$((socket_errors + $(bench_field "${line}" "${kind}")))
  done
  printf -v "SOCKET_${name}" '%s' "${socket_errors}"
  local rps_var="RPS_${name}"
  log "${name}: ${!rps_var} requests/s"
}

# ---------------------------------------------------------------------------------------------
# Report

# Prints the Markdown report: the table, the ratios and the targets.
report() {
  local name
  echo "| server | requests/s | p50 (ms) | p99 (ms) | non-2xx | socket errors |"
  echo "|---|---:|---:|---:|---:|---:|"
  for name in tandem flask nginx; do
    wants "${name}" || continue
    local rps="RPS_${name}" p50="P50_${name}" p99="P99_${name}" bad="NON2XX_${name}" sock="SOCKET_${name}"
    printf '| %s | %s | %s | %s | %s | %s |\n' "$(server_label "${name}")" \
      "${!rps}" "${!p50}" "${!p99}" "${!bad}" "${!sock}"
  done
  echo
  if wants tandem && wants flask; then
    awk -v t="${RPS_tandem}" -v f="${RPS_flask}" -v target="${TARGET_FLASK_RATIO}" 'BEGIN {
      ratio = t / f
      printf "- tandem / Flask: %.1fx (target at least %dx: %s)\n", ratio, target,
             (ratio >= target ? "met" : "NOT met") }'
  fi
  if wants tandem && wants nginx; then
    awk -v t="${RPS_tandem}" -v n="${RPS_nginx}" -v target="${TARGET_NGINX_PERCENT}" 'BEGIN {
      percent = 100 * t / n
      printf "- tandem / nginx: %.0f%% (target at least %d%%: %s)\n", percent, target,
             (percent >= target ? "met" : "NOT met") }'
  fi
  if wants tandem; then
    awk -v p99="${P99_tandem}" -v target="${TARGET_P99_MS}" 'BEGIN {
      printf "- tandem p99: %.3f ms (target at most %d ms: %s)\n", p99, target,
             (p99 <= target ? "met" : "NOT met") }'
  fi
}

server_label() {
  case "$1" in
    tandem) echo "tandem serve (--threads ${SERVE_THREADS}$( ((PIN_THREADS)) && echo ' --pin-threads'))" ;;
    flask) echo "Flask + Gunicorn (2 sync workers) + python3-xgboost" ;;
    nginx) echo "nginx, fixed JSON reply (2 workers)" ;;
  esac
}

# Writes the report with the conditions it was measured under.
save_report() {
  local date file
  date="$(date -u +%Y-%m-%d)"
  file="${SCRIPT_DIR}/results-${date}.md"
  local rounds depth
  rounds="$(jq -r '.Lineage.HyperParameters.num_round // "?"' "${MANIFEST}")"
  depth="$(jq -r '.Lineage.HyperParameters.max_depth // "?"' "${MANIFEST}")"
  {
    echo "# Serving benchmark, ${date}"
    echo
    echo "Measured by \`bash bench/serving/run.sh\` at $(date -u +%H:%M) UTC."
    echo
    report
    echo
    echo "Conditions:"
    echo "- machine: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), Linux $(uname -r); servers and wrk share it; load average before the runs ${LOAD_AVERAGE} (1, 5, 15 min)"
    echo "- load: wrk $(wrk -v 2>&1 | head -n 1 | awk '{print $2}'), ${WRK_THREADS} threads, ${WRK_CONNECTIONS} connections, ${WARMUP} s warm-up then ${DURATION} s measured, one server at a time, 127.0.0.1"
    echo "- request: one row as OIP v2 JSON, one tensor per raw field ($(wc -c <"${REQUEST_FILE}") bytes), POST ${INFER_PATH}"
    echo "- model: ${MODEL_NAME}, ${rounds} rounds, max depth ${depth}, trained on $(jq -r '.Metrics.TrainRows // "?"' "${MANIFEST}") rows"
    echo "- tandem: $("${TANDEM_BIN:-tandem}" --version 2>/dev/null | head -n 1 || echo '?')"
    echo "- Flask $("${PYTHON}" -c 'import flask, importlib.metadata as m; print(m.version("flask"))' 2>/dev/null || echo '?'), $(gunicorn --version 2>/dev/null || echo 'gunicorn ?'), xgboost $("${PYTHON}" -c 'import xgboost; print(xgboost.__version__)' 2>/dev/null || echo '?') with nthread 1 per worker"
    echo "- $(nginx -v 2>&1 || echo 'nginx ?')"
    echo
    echo "non-2xx counts responses with HTTP status 400 or more (what wrk 4.1 counts). Latency is"
    echo "wrk's, from writing a request to reading its response, with the load generator on the same"
    echo "2 cores, so absolute numbers drift between runs: compare the ratios."
  } >"${file}"
  log "wrote ${file}"
}

main() {
  parse_args "$@"
  check_tools
  wants tandem && find_tandem
  [[ -n "${PACKAGE_DIR}" ]] || train_package
  check_package
  WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/tandem-bench-serving.XXXXXX")"
  # Other work on the machine skews every number, so the report records the load average.
  LOAD_AVERAGE="$(cut -d' ' -f1-3 /proc/loadavg)"
  log "load average before the runs (1, 5, 15 min): ${LOAD_AVERAGE}"
  write_request
  log "package ${PACKAGE_DIR} (model ${MODEL_NAME}); request $(cat "${REQUEST_FILE}")"

  if wants tandem; then measure tandem 1; fi
  if wants flask; then measure flask 1; fi
  if wants nginx; then measure nginx 0; fi

  echo
  report
  if [[ "${SAVE}" == 1 ]]; then save_report; fi
}

main "$@"
