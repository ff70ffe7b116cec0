#!/usr/bin/env bash
# Run HERE (a Debian machine with apt) before a device check: downloads the -dev packages the GPU
# machine lacks (GoogleTest, Google Benchmark, nlohmann-json, zlib headers) and unpacks them into .deps/root, a git-ignored
# folder to name in the device tool's `carry`. tools/device_check.sh points CMake at it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.deps"
mkdir -p "$dest/debs" "$dest/root"
cd "$dest/debs"
apt-get download libgtest-dev libgmock-dev libbenchmark-dev libbenchmark1debian nlohmann-json3-dev \
  zlib1g-dev >/dev/null
for deb in *.deb; do dpkg -x "$deb" "$dest/root"; done
rm -rf "$dest/debs"
du -sh "$dest/root"
