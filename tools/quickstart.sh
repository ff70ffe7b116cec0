#!/usr/bin/env bash
# The README's main command: installs dependencies, builds cudanet, and runs the main job.
# Until the trainer lands, the main job is `cudanet demo` (the core runtime end to end).
#   tools/quickstart.sh [arguments for the demo]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}

"$root/tools/install_deps.sh"
# shellcheck disable=SC2086
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release ${CUDANET_CMAKE_ARGS:-}
cmake --build "$build" -j "${JOBS:-$(nproc)}" --target cudanet_cli
"$build/tools/cudanet" info
"$build/tools/cudanet" demo "$@"
