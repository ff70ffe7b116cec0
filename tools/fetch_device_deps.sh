#!/usr/bin/env bash
# Run HERE (a Debian machine with apt) before a device check: downloads the -dev packages the GPU
# machine lacks (GoogleTest, Google Benchmark, nlohmann-json, zlib headers, TurboJPEG) and unpacks
# them into .deps/root, and copies Fashion-MNIST into .deps/fashion-mnist. .deps is git-ignored:
# name it in the device tool's `carry`. tools/device_check.sh points CMake and the LeNet-5 check at it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.deps"
mkdir -p "$dest/debs" "$dest/root"
cd "$dest/debs"
apt-get download libgtest-dev libgmock-dev libbenchmark-dev libbenchmark1debian nlohmann-json3-dev \
  zlib1g-dev libturbojpeg0-dev libturbojpeg0 >/dev/null
for deb in *.deb; do dpkg -x "$deb" "$dest/root"; done
rm -rf "$dest/debs"
# Fashion-MNIST (about 30 MB) for the LeNet-5 training check.
if [[ -d /usr/share/datasets/fashion-mnist ]]; then
  mkdir -p "$dest/fashion-mnist"
  cp /usr/share/datasets/fashion-mnist/*.gz "$dest/fashion-mnist/"
fi
du -sh "$dest/root"
