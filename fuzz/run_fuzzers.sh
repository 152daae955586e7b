#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a bounded time.
#
#   fuzz/run_fuzzers.sh --build-dir DIR [--seconds 20] [--target NAME]
#
# Each target starts from a copy of fuzz/corpus/NAME (the copy grows, the
# committed seeds do not). A crashing input is written to fuzz/regressions/NAME/,
# where fuzz_regression_test replays it with every normal test run; the
# script then exits 1. Without a suitable clang (clang++-19 or newer, with
# libclang-rt-19-dev for libFuzzer), it prints why and exits 77, which ctest
# reports as skipped.
set -euo pipefail

FUZZ_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD_DIR=""
SECONDS_PER_TARGET=20
TARGETS=(oip_request sagemaker_body record_transform)

while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) BUILD_DIR="$2"; shift 2 ;;
    --seconds) SECONDS_PER_TARGET="$2"; shift 2 ;;
    --target) TARGETS=("$2"); shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "run_fuzzers.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -n "${BUILD_DIR}" ]] || { echo "run_fuzzers.sh: --build-dir DIR is required" >&2; exit 2; }

CLANG=""
for candidate in clang++-21 clang++-20 clang++-19; do
  if command -v "${candidate}" >/dev/null; then CLANG="$(command -v "${candidate}")"; break; fi
done
if [[ -z "${CLANG}" ]]; then
  echo "SKIP: no clang++-19 or newer found; install clang-19 and libclang-rt-19-dev to fuzz" \
       "(older clang cannot compile std::expected from libstdc++ 12)"
  exit 77
fi
if ! echo 'extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long) { return 0; }' |
     "${CLANG}" -x c++ -fsanitize=fuzzer -o /dev/null - 2>/dev/null; then
  echo "SKIP: ${CLANG} cannot link libFuzzer; install the matching libclang-rt-NN-dev"
  exit 77
fi

cmake -S "${FUZZ_DIR}/clang" -B "${BUILD_DIR}" -DCMAKE_CXX_COMPILER="${CLANG}" >/dev/null
cmake --build "${BUILD_DIR}" -j2 --target "${TARGETS[@]/%/_fuzzer}"

status=0
for target in "${TARGETS[@]}"; do
  corpus="${BUILD_DIR}/corpus/${target}"
  mkdir -p "${corpus}" "${FUZZ_DIR}/regressions/${target}"
  cp -n "${FUZZ_DIR}/corpus/${target}/"* "${corpus}/" 2>/dev/null || true
  echo "fuzzing ${target} for ${SECONDS_PER_TARGET} s"
  if ! "${BUILD_DIR}/${target}_fuzzer" -max_total_time="${SECONDS_PER_TARGET}" -rss_limit_mb=2048 \
       -timeout=10 -print_final_stats=1 \
       -artifact_prefix="${FUZZ_DIR}/regressions/${target}/" "${corpus}" 2>"${BUILD_DIR}/${target}.log"; then
    echo "FAILED: ${target} found a crashing input, kept in fuzz/regressions/${target}/:"
    tail -40 "${BUILD_DIR}/${target}.log"
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::new_units_added" "${BUILD_DIR}/${target}.log" || true
  fi
done
exit "${status}"
