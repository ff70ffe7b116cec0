#!/usr/bin/env bash
# The README's test command: installs dependencies, configures and builds cudanet (CUDA on when a
# toolkit is present, warnings as errors), then runs every test. GPU tests skip, with their reason,
# on a machine without a GPU. The last line counts passed, failed and skipped tests.
#   tools/run_tests.sh [extra ctest arguments, e.g. -L core]
# Environment: BUILD_DIR (default build), CUDANET_CMAKE_ARGS (extra configure arguments), JOBS.
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
python3 "$root/tools/ctest_summary.py" "$junit" || status=1

# ---- the Python package: pip install ./python into .venv, pytest against PyTorch -----------------
# PYTHON_TESTS=1 runs them, 0 skips them; by default they run unless ctest arguments were given.
if [[ ${PYTHON_TESTS:-$(($# == 0))} == 1 ]]; then
  "$root/tools/python_tests.sh" || status=1
fi
exit $status
