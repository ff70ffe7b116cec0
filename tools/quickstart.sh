#!/usr/bin/env bash
# The README's main command: installs what is missing, builds cudanet, and trains LeNet-5 on
# Fashion-MNIST (on the GPU when there is one), printing progress and the final test accuracy.
#   tools/quickstart.sh [more `cudanet train` options, e.g. --epochs 3 --device cpu]
# Metrics and checkpoints go to runs/lenet5/ (RUN_DIR to override).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
run_dir=${RUN_DIR:-$root/runs/lenet5}

"$root/tools/install_deps.sh"
# shellcheck disable=SC2086
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release ${CUDANET_CMAKE_ARGS:-}
cmake --build "$build" -j "${JOBS:-$(nproc)}" --target cudanet_cli
"$build/tools/cudanet" info
"$build/tools/cudanet" train --model lenet5 --data fashion-mnist --epochs 10 --batch-size 64 \
  --device auto --metrics-out "$run_dir/metrics.json" --checkpoint-dir "$run_dir" "$@"
