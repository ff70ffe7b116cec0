#!/usr/bin/env bash
# Installs the Debian packages cudanet builds and tests with. Idempotent: does nothing when they
# are all present. The CUDA toolkit itself is expected under /usr/local/cuda (optional: without
# it cudanet builds CPU-only).
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config python3
  libgtest-dev libgmock-dev libbenchmark-dev
  libopenblas-dev zlib1g-dev nlohmann-json3-dev libturbojpeg0-dev libjpeg62-turbo-dev
  dataset-fashion-mnist gnuplot-nox
  python3-dev python3-venv python3-numpy python3-torch python3-matplotlib
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install_deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install_deps: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
