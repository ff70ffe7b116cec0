#!/usr/bin/env bash
# The README's test command: installs dependencies, configures and builds cudanet (CUDA on when a
# toolkit is present, warnings as errors), then runs every test. GPU tests skip, with their reason,
# on a machine without a GPU. The last line counts passed, failed and skipped tests.
#   tools/run_tests.sh [extra ctest arguments, e.g. -L core]
# Then the same CPU tests again from a second, CPU-only build with AddressSanitizer and
# UndefinedBehaviorSanitizer (ASAN_BUILD_DIR, default build-asan; any report fails its test); the
# summary line counts both runs.
# Then the GPU tests once more from a third build whose CUDA backend runs on the cudaemu CPU
# emulator (EMU_BUILD_DIR, default build-emu; tools/cudaemu/README.md): the kernels and the host
# code around them run without a GPU. Tests at AlexNet scale take minutes each there and skip,
# saying so, unless CUDAEMU_SLOW_TESTS=1. The Python tests run last, on the CPU build and on the
# emulated GPU.
# Environment: BUILD_DIR (default build), CUDANET_CMAKE_ARGS (extra configure arguments), JOBS,
# CUDANET_SANITIZER_RUN=0 (skip the sanitizer build), CUDANET_EMULATOR_RUN=0 (skip the emulated
# GPU tests).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
jobs=${JOBS:-$(nproc)}
# Paths relative to the tree in ccache's keys: the Python build (build-python/) then reuses the
# objects of this build.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}

"$root/tools/install_deps.sh"

# shellcheck disable=SC2086
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCUDANET_WERROR=ON \
  ${CUDANET_CMAKE_ARGS:-}
cmake --build "$build" -j "$jobs"

junit="$build/ctest-results.xml"
rm -f "$junit"
set +e
(cd "$build" && ctest --output-on-failure -j "$jobs" --timeout 900 --output-junit "$junit" "$@")
status=$?
set -e
reports=("$junit")

# ---- the sanitizer build: CPU tests under ASan + UBSan ------------------------------------------
if [[ ${CUDANET_SANITIZER_RUN:-1} != 0 ]]; then
  asan_build=${ASAN_BUILD_DIR:-$root/build-asan}
  asan_junit="$asan_build/ctest-results.xml"
  rm -f "$asan_junit"
  t0=$(date +%s)
  # -O1, as the sanitizers' documentation advises: half the compile time of -O3, fast enough.
  cmake -S "$root" -B "$asan_build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" -DCUDANET_WERROR=ON -DCUDANET_CUDA=OFF \
    -DCUDANET_SANITIZE="address;undefined" -DCUDANET_BENCHMARKS=OFF
  cmake --build "$asan_build" -j "$jobs"
  # Huge requests return null (the allocators turn that into OutOfMemoryError) instead of
  # ASan's report; every other report, and any UBSan report (-fno-sanitize-recover), is fatal.
  set +e
  (cd "$asan_build" &&
    ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1:abort_on_error=1 \
      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      ctest --output-on-failure -j "$jobs" --timeout 900 --output-junit "$asan_junit" \
      -LE 'gpu|package' "$@")
  ((status |= $?))
  set -e
  echo "sanitizer build and tests: $(($(date +%s) - t0)) s"
  reports+=("$asan_junit")
fi
# ---- the emulated GPU: the GPU tests on the cudaemu CPU emulator ---------------------------------
# (With the benchmarks built: the GPU benchmark programs and the device check's training-step
# comparison script run there at a small size, labelled gpu too.)
if [[ ${CUDANET_EMULATOR_RUN:-1} != 0 ]]; then
  emu_build=${EMU_BUILD_DIR:-$root/build-emu}
  emu_junit="$emu_build/ctest-results.xml"
  rm -f "$emu_junit"
  t0=$(date +%s)
  cmake -S "$root" -B "$emu_build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCUDANET_WERROR=ON \
    -DCUDANET_CUDA=EMULATE -DCUDANET_BENCHMARKS=ON
  cmake --build "$emu_build" -j "$jobs"
  set +e
  (cd "$emu_build" &&
    ctest --output-on-failure -j "$jobs" --timeout 900 --output-junit "$emu_junit" -L gpu "$@")
  ((status |= $?))
  set -e
  echo "emulated GPU build and tests: $(($(date +%s) - t0)) s"
  reports+=("$emu_junit")
fi
python3 "$root/tools/ctest_summary.py" "${reports[@]}" || status=1

# ---- the Python package: pip install ./python into .venv, pytest against PyTorch -----------------
# PYTHON_TESTS=1 runs them, 0 skips them; by default they run unless ctest arguments were given.
# Unless CUDANET_EMULATOR_RUN=0, the package is built once more on the emulated GPU (.venv-emu,
# build-python-emu), where its GPU tests run too. The last line counts both runs.
if [[ ${PYTHON_TESTS:-$(($# == 0))} == 1 ]]; then
  py_log=$(mktemp)
  "$root/tools/python_tests.sh" | tee "$py_log" || status=1
  py_line=$(tail -n 1 "$py_log")
  if [[ ${CUDANET_EMULATOR_RUN:-1} != 0 ]]; then
    VENV="$root/.venv-emu" PYTHON_BUILD_DIR="$root/build-python-emu" \
      CUDANET_PYTHON_CMAKE_ARGS="-DCUDANET_CUDA=EMULATE" "$root/tools/python_tests.sh" |
      tee "$py_log" || status=1
    py_line+="; on the emulated GPU: $(tail -n 1 "$py_log" | sed 's/^python tests: //')"
  fi
  rm -f "$py_log"
  echo "$py_line"
fi
exit $status
