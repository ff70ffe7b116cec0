#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, CPU only, ASan + UBSan; tests/fuzz) in build-fuzz and runs
# each for the given time on one core, starting from the committed seed corpus
# tests/fuzz/corpus/<target>/. New inputs go to build-fuzz/corpus/<target>/, findings (crash-*,
# leak-*, oom-*, timeout-*) and the logs to build-fuzz/findings/<target>/. Prints one line per
# target (executions, coverage, findings) and exits 1 when any target found something.
#   tools/fuzz.sh [SECONDS_PER_TARGET (default 60)] [TARGET...]   (default: every target)
# A finding reproduces with build-fuzz/tests/fuzz/cudanet_fuzz_<target> FILE; copy it into the
# seed corpus once fixed, so the ctest fuzz.<target>.replay_corpus keeps it fixed.
# Environment: FUZZ_BUILD_DIR (default build-fuzz), CXX (default clang++), JOBS.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
shift || true
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
jobs=${JOBS:-$(nproc)}

mapfile -t all < <(sed -n 's/^cudanet_add_fuzz_target(\([a-z0-9_]*\) .*/\1/p' \
  "$root/tests/fuzz/CMakeLists.txt")
targets=("$@")
((${#targets[@]})) || targets=("${all[@]}")

mkdir -p "$build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="${CXX:-clang++}" -DCUDANET_FUZZ=ON -DBUILD_TESTING=OFF \
  -DCUDANET_WERROR=OFF >"$build/configure.log" 2>&1 || {
  cat "$build/configure.log"
  exit 1
}
cmake --build "$build" -j "$jobs" --target "${targets[@]/#/cudanet_fuzz_}"

status=0
summary=()
for t in "${targets[@]}"; do
  exe="$build/tests/fuzz/cudanet_fuzz_$t"
  seeds="$root/tests/fuzz/corpus/$t"
  corpus="$build/corpus/$t"
  findings="$build/findings/$t"
  mkdir -p "$corpus" "$findings"
  log="$findings/fuzz.log"
  echo "== fuzzing $t for ${seconds}s (log: $log)"
  # -close_fd_mask=1: the command-line target prints help on stdout. Memory: 2 GB per input.
  set +e
  "$exe" "$corpus" "$seeds" -max_total_time="$seconds" -artifact_prefix="$findings/" \
    -rss_limit_mb=2048 -timeout=10 -close_fd_mask=1 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || true)
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 || true)
  found=$(find "$findings" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o \
    -name 'oom-*' -o -name 'timeout-*' \) | wc -l)
  line="$t: exit $rc, ${execs:-?} executions, ${cov:-cov ?}, corpus $(find "$corpus" -type f | wc -l) files, findings $found"
  summary+=("$line")
  if ((rc != 0 || found > 0)); then
    status=1
    grep -E 'ERROR|SUMMARY|fuzz property|terminate' "$log" | head -n 5 || true
  fi
done
echo
printf '%s\n' "${summary[@]}"
exit $status
