#!/usr/bin/env bash
# The Python tests: installs the package with `pip install ./python` into a virtual environment
# and runs pytest (python/tests) against PyTorch. The last line counts passed, failed and skipped
# tests; the exit status is pytest's.
#   tools/python_tests.sh [extra pytest arguments, e.g. -k ops]
# Environment: VENV (default .venv; made from Debian's /usr/bin/python3 with the system site
# packages, so python3-torch and python3-numpy are visible), PYTHON_BUILD_DIR (default
# build-python: a persistent scikit-build-core build directory, so reinstalls rebuild only what
# changed), CUDANET_PYTHON_CMAKE_ARGS (extra CMake definitions, e.g. "-DCUDANET_CUDA=OFF").
# CUDA is used when the toolkit is found, as in the C++ build; GPU tests skip without a GPU.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$root/.venv}
build=${PYTHON_BUILD_DIR:-$root/build-python}
python=${PYTHON:-/usr/bin/python3}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}
export PATH=/usr/local/cuda/bin:$PATH

if [[ ! -x $venv/bin/python ]]; then
  echo "python_tests: creating $venv from $python (system site packages visible)"
  "$python" -m venv --system-site-packages "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
# Build requirements in the environment once, so reinstalls need no network (no build isolation).
"$venv/bin/python" -c "import scikit_build_core, nanobind, pytest" 2>/dev/null ||
  "${pip[@]}" install "scikit-build-core>=0.10" "nanobind>=2.0" pytest

defines=(--config-settings=cmake.define.CUDANET_WERROR=ON)
for arg in ${CUDANET_PYTHON_CMAKE_ARGS:-}; do
  defines+=("--config-settings=cmake.define.${arg#-D}")
done
start=$(date +%s)
if ! "${pip[@]}" install --no-build-isolation --no-deps "--config-settings=build-dir=$build" \
  "${defines[@]}" "$root/python"; then
  echo "python tests: pip install ./python FAILED"
  exit 1
fi
echo "python_tests: pip install ./python took $(($(date +%s) - start)) s"

# Run from a neutral directory so `import cudanet` finds the installed package, not the sources.
cd "$root/python/tests"
set +e
"$venv/bin/python" -m pytest -q -rs -p no:cacheprovider "$@" . | tee "$build/pytest.log"
status=${PIPESTATUS[0]}
set -e
summary=$(grep -E '(passed|failed|error|skipped|no tests ran).* in [0-9.]+s' "$build/pytest.log" | tail -n 1 |
          tr -d '=' | sed 's/^ *//')
echo "python tests: ${summary:-no summary (pytest exit $status)}"
exit "$status"
