#!/usr/bin/env bash
# Turns vega-datasets' flights-3m.parquet (3,000,000 US flights of January to June 2001) into the
# CSV channels of tandem's flights example:
#
#   DATA_DIR/inputs/flights/train/flights.csv        the earliest 2,700,000 flights by date
#   DATA_DIR/inputs/flights/validation/flights.csv   the latest 300,000
#
#   bash scripts/prepare-flights.sh [DATA_DIR]       (default: .data in the repository)
#
# Needs node_modules (scripts/install-deps.sh installs it). The conversion is skipped when both
# files exist and the stamp beside them matches the parquet file and the converter's sources.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA_DIR="${1:-${REPO_ROOT}/.data}"
mkdir -p "${DATA_DIR}"
DATA_DIR="$(cd "${DATA_DIR}" && pwd)"
FLIGHTS_DIR="${DATA_DIR}/inputs/flights"
PARQUET="${REPO_ROOT}/node_modules/vega-datasets/data/flights-3m.parquet"
# The digest of flights-3m.parquet in vega-datasets 3.2.1; another file would give other splits.
PARQUET_SHA256="dbeb920c90f59b6ccaff823dcc3d08f25a97fa1ce128d93f40be4e931f5900b0"
TOTAL_ROWS=3000000
TRAIN_ROWS=2700000
CONVERTER=("${REPO_ROOT}/scripts/flights-to-csv.mjs" "${REPO_ROOT}/scripts/lib/flights-parquet.mjs")

log() { printf 'prepare-flights: %s\n' "$*"; }
fail() { printf 'prepare-flights: error: %s\n' "$*" >&2; exit 1; }

# Prints the number of data rows (lines after the header) of a CSV file.
data_rows() { echo $(( $(wc -l <"$1") - 1 )); }

check_parquet() {
  [[ -f "${PARQUET}" ]] ||
    fail "${PARQUET} is missing; run 'bash scripts/install-deps.sh' (or 'npm ci') first"
  local digest
  digest="$(sha256sum "${PARQUET}" | cut -d' ' -f1)"
  [[ "${digest}" == "${PARQUET_SHA256}" ]] ||
    fail "${PARQUET} has sha256 ${digest}, expected ${PARQUET_SHA256}; reinstall it with 'npm ci'"
}

# The stamp names the input and the converter's code, so a change to either converts again.
expected_stamp() {
  printf 'parquet %s\n' "${PARQUET_SHA256}"
  sha256sum "${CONVERTER[@]}" | sed "s|${REPO_ROOT}/||"
}

check_outputs() {
  local train="${FLIGHTS_DIR}/train/flights.csv"
  local validation="${FLIGHTS_DIR}/validation/flights.csv"
  local train_rows validation_rows
  train_rows="$(data_rows "${train}")"
  validation_rows="$(data_rows "${validation}")"
  [[ "${train_rows}" -eq "${TRAIN_ROWS}" ]] ||
    fail "${train} has ${train_rows} rows, expected ${TRAIN_ROWS}"
  [[ "${validation_rows}" -eq $((TOTAL_ROWS - TRAIN_ROWS)) ]] ||
    fail "${validation} has ${validation_rows} rows, expected $((TOTAL_ROWS - TRAIN_ROWS))"
  log "train: ${train_rows} rows in ${train}"
  log "validation: ${validation_rows} rows in ${validation}"
}

main() {
  check_parquet
  local stamp="${FLIGHTS_DIR}/.stamp"
  if [[ -f "${FLIGHTS_DIR}/train/flights.csv" && -f "${FLIGHTS_DIR}/validation/flights.csv" &&
        -f "${stamp}" && "$(cat "${stamp}")" == "$(expected_stamp)" ]]; then
    log "CSV files are up to date"
  else
    log "converting ${PARQUET} into ${FLIGHTS_DIR}"
    rm -f "${stamp}"
    node "${REPO_ROOT}/scripts/flights-to-csv.mjs" "${PARQUET}" "${FLIGHTS_DIR}" \
      --train-fraction 0.9 --expect-rows "${TOTAL_ROWS}" ||
      fail "converting ${PARQUET} failed (see the message above)"
  fi
  check_outputs
  expected_stamp >"${stamp}"
}

main
