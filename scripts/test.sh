#!/usr/bin/env bash
# Builds tandem and runs all of its tests; CI runs this script (.ci/run).
#
#   bash scripts/test.sh
#
# Stages, in order:
#   1. scripts/install-deps.sh (Debian packages and npm packages; skipped with TANDEM_TEST_SKIP_INSTALL=1)
#   2. the Node.js tests of the data scripts (node --test scripts/)
#   3. the `default` preset (RelWithDebInfo): configure, build everything, ctest
#   4. the `asan` preset (AddressSanitizer and UndefinedBehaviorSanitizer): builds only the test
#      targets declared with the label `asan`, then runs `ctest -L asan`
#
# The PostgreSQL store's tests need a PostgreSQL 15 server: ctest starts and stops a throwaway
# one itself, as a test fixture (scripts/postgres-test-server.sh, declared in src/store).
#
# Time budget: CI allows 90 minutes on 2 cores. Stage 4 starts only when at least
# TANDEM_TEST_ASAN_MIN_MINUTES (default 20) of TANDEM_TEST_BUDGET_MINUTES (default 60) remain,
# and is stopped at the end of the budget. A skipped or stopped stage 4 is reported but does not
# fail the run; a failing test in any stage does.
#
# Environment: TANDEM_TEST_JOBS (parallel build and test jobs, default 2),
# TANDEM_TEST_TIMEOUT (seconds per ctest test without its own TIMEOUT, default 600),
# TANDEM_TEST_SKIP_ASAN=1.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JOBS="${TANDEM_TEST_JOBS:-2}"
TEST_TIMEOUT="${TANDEM_TEST_TIMEOUT:-600}"
BUDGET_SECONDS=$((${TANDEM_TEST_BUDGET_MINUTES:-60} * 60))
ASAN_MIN_SECONDS=$((${TANDEM_TEST_ASAN_MIN_MINUTES:-20} * 60))
LOG_DIR="${REPO_ROOT}/build/test-logs"

PASSED=0
FAILED=0
FAILURES=()

log() { printf '\n==> [%d s] %s\n' "${SECONDS}" "$*"; }
fail() { printf 'test: error: %s\n' "$*" >&2; exit 1; }

# Adds the counts of a ctest log ("... tests failed out of N") to the totals.
count_ctest() {
  local summary failed total
  summary="$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$1" | tail -n 1)" || return 0
  failed="$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"${summary}")"
  total="$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"${summary}")"
  PASSED=$((PASSED + total - failed))
  FAILED=$((FAILED + failed))
}

# Adds the counts of a `node --test` log ("# pass N", "# fail N") to the totals.
count_node() {
  local pass fail
  pass="$(sed -nE 's/^# pass ([0-9]+)$/\1/p' "$1" | tail -n 1)"
  fail="$(sed -nE 's/^# fail ([0-9]+)$/\1/p' "$1" | tail -n 1)"
  PASSED=$((PASSED + ${pass:-0}))
  FAILED=$((FAILED + ${fail:-0}))
}

# ---------------------------------------------------------------------------------------------
# Stages

stage_node_tests() {
  log "Node.js tests of the data scripts"
  local output="${LOG_DIR}/node-tests.log"
  if (cd "${REPO_ROOT}" && node --test scripts/) 2>&1 | tee "${output}"; then
    count_node "${output}"
  else
    count_node "${output}"
    FAILURES+=("node --test scripts/ (log: ${output})")
  fi
}

stage_default() {
  log "Preset default: configure and build (-j ${JOBS})"
  cmake --preset default -S "${REPO_ROOT}" || fail "configuring the default preset failed"
  cmake --build --preset default -j "${JOBS}" || fail "building the default preset failed"

  log "Preset default: ctest (-j ${JOBS}, --timeout ${TEST_TIMEOUT})"
  local output="${LOG_DIR}/ctest-default.log"
  if ctest --preset default --output-on-failure -j "${JOBS}" --timeout "${TEST_TIMEOUT}" \
      2>&1 | tee "${output}"; then
    count_ctest "${output}"
  else
    count_ctest "${output}"
    FAILURES+=("ctest --preset default (log: ${output})")
  fi
}

# Prints the names of the test targets whose tandem_test() call lists the label `asan`.
asan_test_targets() {
  # shellcheck disable=SC2016 # the $ signs belong to awk
  find "${REPO_ROOT}/src" "${REPO_ROOT}/tests" -name CMakeLists.txt -print0 |
    xargs -0 awk '
      /tandem_test\(/ { call = ""; inside = 1 }
      inside { call = call " " $0 }
      inside && /\)/ {
        inside = 0
        sub(/.*tandem_test\(/, "", call)
        split(call, words, /[ \t]+/)
        if (call ~ /LABELS([ \t]+[A-Za-z0-9_-]+)*[ \t]+asan([ \t)]|$)/) print words[1] == "" ? words[2] : words[1]
      }'
}

stage_asan() {
  if [[ "${TANDEM_TEST_SKIP_ASAN:-0}" == 1 ]]; then
    log "Preset asan: skipped (TANDEM_TEST_SKIP_ASAN=1)"
    return
  fi
  local remaining=$((BUDGET_SECONDS - SECONDS))
  if ((remaining < ASAN_MIN_SECONDS)); then
    log "Preset asan: skipped, ${remaining} s of the ${BUDGET_SECONDS} s budget remain" \
      "(it needs ${ASAN_MIN_SECONDS} s)"
    return
  fi
  local targets
  mapfile -t targets < <(asan_test_targets | sort -u)
  if [[ ${#targets[@]} -eq 0 ]]; then
    log "Preset asan: skipped, no tandem_test() carries the label asan"
    return
  fi

  log "Preset asan: building ${#targets[@]} test targets (${targets[*]}) within ${remaining} s"
  cmake --preset asan -S "${REPO_ROOT}" || fail "configuring the asan preset failed"
  local status=0
  timeout "${remaining}" cmake --build --preset asan -j "${JOBS}" --target "${targets[@]}" ||
    status=$?
  if [[ ${status} -eq 124 ]]; then
    log "Preset asan: stopped at the end of the time budget; its tests did not run"
    return
  fi
  [[ ${status} -eq 0 ]] || fail "building the asan preset failed"

  remaining=$((BUDGET_SECONDS - SECONDS))
  log "Preset asan: ctest -L asan (-j ${JOBS}) within ${remaining} s"
  local output="${LOG_DIR}/ctest-asan.log"
  status=0
  timeout "${remaining}" ctest --preset asan -L asan --output-on-failure -j "${JOBS}" \
    --timeout "${TEST_TIMEOUT}" 2>&1 | tee "${output}" || status=$?
  count_ctest "${output}"
  if [[ ${status} -eq 124 ]]; then
    log "Preset asan: ctest stopped at the end of the time budget"
  elif [[ ${status} -ne 0 ]]; then
    FAILURES+=("ctest --preset asan -L asan (log: ${output})")
  fi
}

main() {
  mkdir -p "${LOG_DIR}"
  if [[ "${TANDEM_TEST_SKIP_INSTALL:-0}" != 1 ]]; then
    log "Installing missing packages"
    bash "${REPO_ROOT}/scripts/install-deps.sh" || fail "scripts/install-deps.sh failed"
  fi
  stage_node_tests
  stage_default
  stage_asan

  log "Finished in ${SECONDS} s"
  if [[ ${#FAILURES[@]} -gt 0 ]]; then
    printf 'failed: %s\n' "${FAILURES[@]}"
  fi
  printf 'tests: %d passed, %d failed\n' "${PASSED}" "${FAILED}"
  [[ ${#FAILURES[@]} -eq 0 ]]
}

main "$@"
