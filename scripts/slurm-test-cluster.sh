#!/usr/bin/env bash
# Sets up, starts and stops a one-machine Slurm cluster (munged, slurmctld, slurmd) for the
# Slurm backend's tests and for trying tandem on Slurm.
#
#   scripts/slurm-test-cluster.sh start DIR [PORT]
#   scripts/slurm-test-cluster.sh stop DIR
#   scripts/slurm-test-cluster.sh status DIR
#
# Everything the cluster needs lives in DIR (an absolute path): a munge key and a munged of its
# own with its socket in DIR/munge, DIR/slurm.conf, the state, spool and log directories. Nothing
# under /etc is written, so clients must be pointed at the cluster with
#   export SLURM_CONF=DIR/slurm.conf
# slurmctld listens on PORT (default 6817) and slurmd on PORT+1, on all addresses, because Slurm
# has no option to bind its daemons to loopback.
#
# start: stops what an earlier run left in DIR, writes a fresh configuration (no accounting,
# proctrack/linuxproc, task/none, select/cons_tres with CPUs and memory as consumable resources,
# one node with this machine's CPUs and memory as `slurmd -C` reports them, one default
# partition `debug`), starts the daemons and waits until `sinfo` shows the node idle. Running it
# again restarts the cluster. It fails when PORT or PORT+1 is in use by another process.
# stop: stops the daemons of DIR and waits for their job step processes to end, then removes DIR.
# status: prints the daemons' pids and `sinfo`; exits 0 only when the node is idle or in use.
#
# Needs root (slurmd must start jobs as their users) and the Debian packages slurmctld, slurmd,
# slurm-client and munge (scripts/install-deps.sh installs them).
set -euo pipefail

READY_ATTEMPTS=60  # sinfo polls, 0.5 s apart
STOP_ATTEMPTS=40   # process checks after SIGTERM, 0.25 s apart
DEFAULT_PORT=6817
PARTITION=debug

fail() { printf 'slurm-test-cluster: error: %s\n' "$*" >&2; exit 1; }
warn() { printf 'slurm-test-cluster: warning: %s\n' "$*" >&2; }
usage() { fail "usage: $0 start DIR [PORT] | stop DIR | status DIR"; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

require_tools() {
  local tool
  for tool in munged munge slurmctld slurmd sinfo scontrol; do
    command -v "${tool}" >/dev/null ||
      fail "${tool} is not installed; run scripts/install-deps.sh" \
        "(Debian packages slurmctld slurmd slurm-client munge)"
  done
  [[ "$(id -u)" -eq 0 ]] || fail "this script must run as root, because slurmd starts jobs as their users"
}

# Prints the pid in FILE when that process still runs, else nothing.
live_pid() {
  local file="$1" pid
  [[ -f "${file}" ]] || return 0
  pid="$(tr -dc '0-9' <"${file}")"
  [[ -n "${pid}" ]] && kill -0 "${pid}" 2>/dev/null && printf '%s' "${pid}"
  return 0
}

# Sends SIGTERM to the daemon of pid file FILE and waits for it to exit, then SIGKILL.
stop_daemon() {
  local name="$1" file="$2" pid attempt
  pid="$(live_pid "${file}")"
  [[ -n "${pid}" ]] || return 0
  kill -TERM "${pid}" 2>/dev/null || true
  for ((attempt = 0; attempt < STOP_ATTEMPTS; attempt++)); do
    kill -0 "${pid}" 2>/dev/null || return 0
    sleep 0.25
  done
  warn "${name} (pid ${pid}) did not exit after SIGTERM; sending SIGKILL"
  kill -KILL "${pid}" 2>/dev/null || true
}

# Prints PID and all its descendants, children first.
descendants() {
  local child
  for child in $(pgrep -P "$1" || true); do descendants "${child}"; done
  printf '%s\n' "$1"
}

# Cancels every job of DIR's cluster while slurmctld still runs, and waits a bounded time for
# their processes to end.
cancel_jobs() {
  local dir="$1" attempt jobs
  [[ -n "$(live_pid "${dir}/run/slurmctld.pid")" ]] || return 0
  jobs="$(SLURM_CONF="${dir}/slurm.conf" squeue --noheader --format=%i 2>/dev/null || true)"
  [[ -n "${jobs}" ]] || return 0
  # shellcheck disable=SC2086 # one argument per job id
  SLURM_CONF="${dir}/slurm.conf" scancel ${jobs} 2>/dev/null || true
  for ((attempt = 0; attempt < STOP_ATTEMPTS; attempt++)); do
    jobs="$(SLURM_CONF="${dir}/slurm.conf" squeue --noheader --format=%i 2>/dev/null || true)"
    [[ -n "${jobs}" ]] || return 0
    sleep 0.25
  done
  warn "jobs ${jobs//$'\n'/ } did not end after scancel; killing their processes"
}

# Kills what is left of DIR's job steps: the slurmstepd processes working in DIR (slurmd leaves
# them running when it stops) and every process under them.
kill_job_steps() {
  local dir="$1" pid cwd
  local pids=()
  for pid in $(pgrep -x slurmstepd || true); do
    cwd="$(readlink "/proc/${pid}/cwd" 2>/dev/null || true)"
    [[ "${cwd}" == "${dir}" || "${cwd}" == "${dir}/"* ]] || continue
    mapfile -t -O "${#pids[@]}" pids < <(descendants "${pid}")
  done
  [[ ${#pids[@]} -gt 0 ]] || return 0
  kill -KILL "${pids[@]}" 2>/dev/null || true
  local attempt
  for ((attempt = 0; attempt < STOP_ATTEMPTS; attempt++)); do
    kill -0 "${pids[@]}" 2>/dev/null || return 0
    sleep 0.25
  done
  warn "job step processes ${pids[*]} are still running"
}

stop_cluster() {
  local dir="$1"
  cancel_jobs "${dir}"
  stop_daemon slurmd "${dir}/run/slurmd.pid"
  stop_daemon slurmctld "${dir}/run/slurmctld.pid"
  kill_job_steps "${dir}"
  stop_daemon munged "${dir}/munge/munged.pid"
}

# Removes DIR, but only when it is empty or looks like one this script made.
remove_dir() {
  local dir="$1"
  [[ -e "${dir}" ]] || return 0
  if [[ -f "${dir}/slurm.conf" || -z "$(ls -A "${dir}")" ]]; then
    rm -rf "${dir}"
  else
    fail "${dir} exists and was not made by this script; choose another DIR"
  fi
}

start_munged() {
  local dir="$1"
  # munged requires its key directory to be private and its socket directory to be searchable.
  mkdir -p "${dir}/munge/private"
  chmod 755 "${dir}" "${dir}/munge"
  chmod 700 "${dir}/munge/private"
  dd if=/dev/urandom of="${dir}/munge/private/munge.key" bs=1024 count=1 status=none
  chmod 600 "${dir}/munge/private/munge.key"
  munged --key-file="${dir}/munge/private/munge.key" --socket="${dir}/munge/munge.socket" \
    --pid-file="${dir}/munge/munged.pid" --log-file="${dir}/munge/private/munged.log" \
    --seed-file="${dir}/munge/private/munged.seed" ||
    fail "munged did not start; see ${dir}/munge/private/munged.log"
  munge -S "${dir}/munge/munge.socket" -n >/dev/null ||
    fail "munged does not create credentials; see ${dir}/munge/private/munged.log"
}

write_slurm_conf() {
  local dir="$1" port="$2" host node_line
  host="$(hostname -s)"
  # `slurmd -C` prints this machine's node line: CPUs, sockets, cores, threads and RealMemory.
  node_line="$(slurmd -C | head -n 1)"
  [[ "${node_line}" == NodeName=* ]] || fail "slurmd -C printed no node line: ${node_line}"
  node_line="$(sed -E "s/^NodeName=[^ ]+/NodeName=${host} NodeHostname=${host}/" <<<"${node_line}")"
  cat >"${dir}/slurm.conf" <<EOF
# Written by scripts/slurm-test-cluster.sh; rewritten by every start.
ClusterName=tandem-test
SlurmctldHost=${host}
SlurmctldPort=${port}
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=${dir}/munge/munge.socket
StateSaveLocation=${dir}/state
SlurmdSpoolDir=${dir}/spool
SlurmctldPidFile=${dir}/run/slurmctld.pid
SlurmdPidFile=${dir}/run/slurmd.pid
SlurmctldLogFile=${dir}/log/slurmctld.log
SlurmdLogFile=${dir}/log/slurmd.log
PlugStackConfig=${dir}/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=1024
MpiDefault=none
SwitchType=switch/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
SchedulerType=sched/backfill
# Reject at submission a job that requests more than the partition's nodes have.
EnforcePartLimits=ALL
# Time between SIGTERM and SIGKILL when Slurm ends a job (scancel, time limit).
KillWait=10
${node_line} State=UNKNOWN
PartitionName=${PARTITION} Nodes=${host} Default=YES MaxTime=INFINITE State=UP
EOF
  : >"${dir}/plugstack.conf"
}

# Prints the node's state as sinfo reports it ("idle", "mix", "alloc", "down*", ...).
node_state() {
  SLURM_CONF="${1}/slurm.conf" sinfo --noheader --partition="${PARTITION}" -o '%t' 2>/dev/null |
    head -n 1
}

start() {
  local dir="$1" port="${2:-${DEFAULT_PORT}}"
  [[ "${port}" =~ ^[0-9]+$ ]] && ((port > 0 && port < 65535)) ||
    fail "PORT must be a number from 1 to 65534, got \"${port}\""
  require_tools

  # Step 1: clear what an earlier, interrupted run left behind.
  stop_cluster "${dir}"
  remove_dir "${dir}"
  local checked
  for checked in "${port}" $((port + 1)); do
    if port_in_use "${checked}"; then
      fail "port ${checked} is already in use, possibly by the slurmctld or slurmd of another" \
        "cluster; stop it (ss -ltnp 'sport = :${checked}') or pass another PORT"
    fi
  done

  # Step 2: munged and the configuration.
  mkdir -p "${dir}"/{state,spool,run,log}
  start_munged "${dir}"
  write_slurm_conf "${dir}" "${port}"

  # Step 3: the controller, then the node daemon.
  slurmctld -f "${dir}/slurm.conf" -i ||
    fail "slurmctld did not start; see ${dir}/log/slurmctld.log"
  slurmd -f "${dir}/slurm.conf" ||
    fail "slurmd did not start; see ${dir}/log/slurmd.log"

  # Step 4: wait, a bounded number of times, until the node takes jobs.
  local attempt state=""
  for ((attempt = 0; attempt < READY_ATTEMPTS; attempt++)); do
    state="$(node_state "${dir}")"
    [[ "${state}" == idle ]] && break
    sleep 0.5
  done
  [[ "${state}" == idle ]] ||
    fail "the node is not idle after ${READY_ATTEMPTS} checks (state \"${state}\"); see" \
      "${dir}/log/slurmctld.log and ${dir}/log/slurmd.log"
  echo "Slurm cluster ready: export SLURM_CONF=${dir}/slurm.conf (partition ${PARTITION})"
}

stop() {
  local dir="$1"
  stop_cluster "${dir}"
  remove_dir "${dir}"
  echo "Slurm cluster in ${dir} stopped"
}

status() {
  local dir="$1" name state
  [[ -f "${dir}/slurm.conf" ]] || fail "no cluster in ${dir}: ${dir}/slurm.conf is missing"
  for name in munge/munged run/slurmctld run/slurmd; do
    printf '%s: %s\n' "${name##*/}" "$(live_pid "${dir}/${name}.pid" || true)"
  done
  state="$(node_state "${dir}")"
  SLURM_CONF="${dir}/slurm.conf" sinfo 2>&1 || true
  [[ "${state}" == idle || "${state}" == mix || "${state}" == alloc ]] ||
    fail "the node is not taking jobs (state \"${state}\")"
}

[[ -z "${2:-}" || "${2:-}" == /* ]] || fail "DIR must be an absolute path, got \"${2}\""
[[ "${2:-}" != "/" ]] || fail "DIR must not be /"

case "${1:-}" in
  start) [[ $# -eq 2 || $# -eq 3 ]] || usage; start "$2" "${3:-}" ;;
  stop) [[ $# -eq 2 ]] || usage; stop "$2" ;;
  status) [[ $# -eq 2 ]] || usage; status "$2" ;;
  *) usage ;;
esac
