#!/usr/bin/env bash
# Installs what building, testing and running tandem needs on Debian 12, then the repository's
# npm packages (the flights data set and its Parquet reader).
#
#   bash scripts/install-deps.sh
#
# Idempotent: Debian packages already installed are left alone, `apt-get update` runs only when
# something is missing, and `npm ci` runs only when package-lock.json changed since its last run.
# Needs root (or sudo) only when a Debian package is missing.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Boost comes as Debian 12's default 1.74 (libboost-dev). libboost1.81-dev would conflict with
# python3-xgboost, which depends on libboost-dev through python3-scipy and python3-pythran.
DEBIAN_PACKAGES=(
  # compilers and build tools
  build-essential cmake ninja-build ccache pkg-config git
  # C++ libraries
  libboost-dev libboost-system-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
  libssl-dev libsqlite3-dev libpq-dev libarchive-dev libxgboost-dev
  # test and benchmark libraries
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  # databases: sqlite3 to inspect tandem.db, PostgreSQL 15 for the PostgreSQL store's tests
  sqlite3 postgresql-15
  # the Python example's interpreter and libraries (/usr/bin/python3)
  python3 python3-numpy python3-xgboost
  # scripts: HTTP calls, JSON on the command line, load generation for the benchmarks
  curl jq wrk
  # the serving benchmark's peers and the Kubernetes manifest test
  python3-flask gunicorn nginx-light python3-yaml
  # Prometheus metrics of the inference server, and its fast JSON reader of infer requests
  prometheus-cpp-dev libsimdjson-dev
  # libFuzzer targets (clang before 19 cannot compile libstdc++ 12's std::expected)
  clang-19 libclang-rt-19-dev
  # the Slurm backend's one-machine test cluster (scripts/slurm-test-cluster.sh)
  slurmctld slurmd slurm-client munge
)

log() { printf 'install-deps: %s\n' "$*"; }
fail() { printf 'install-deps: error: %s\n' "$*" >&2; exit 1; }

is_installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" == "ii " ]]
}

run_as_root() {
  if [[ "$(id -u)" -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    fail "installing Debian packages needs root; run this script as root or install sudo"
  fi
}

install_debian_packages() {
  local missing=()
  local package
  for package in "${DEBIAN_PACKAGES[@]}"; do
    is_installed "${package}" || missing+=("${package}")
  done
  # Node.js may come from another source than Debian (NodeSource's nodejs bundles npm, and
  # Debian's npm package conflicts with it), so the commands decide, not the package names.
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)

  if [[ ${#missing[@]} -eq 0 ]]; then
    log "all ${#DEBIAN_PACKAGES[@]} Debian packages are installed"
    return
  fi
  log "installing ${#missing[@]} missing Debian packages: ${missing[*]}"
  run_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  run_as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# `npm ci` deletes and reinstalls node_modules, so it runs only when the lock file differs from
# the one recorded after the last successful run.
install_npm_packages() {
  local stamp="${REPO_ROOT}/node_modules/.tandem-package-lock.sha256"
  local lock_digest
  lock_digest="$(sha256sum "${REPO_ROOT}/package-lock.json" | cut -d' ' -f1)"
  if [[ -f "${stamp}" && "$(cat "${stamp}")" == "${lock_digest}" ]]; then
    log "npm packages match package-lock.json"
    return
  fi
  log "running npm ci in ${REPO_ROOT}"
  (cd "${REPO_ROOT}" && npm ci --no-audit --no-fund --loglevel=error) ||
    fail "npm ci failed in ${REPO_ROOT}; check that the npm registry is reachable"
  printf '%s\n' "${lock_digest}" >"${stamp}"
}

install_debian_packages
install_npm_packages
log "done"
