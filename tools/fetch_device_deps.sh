#!/usr/bin/env bash
# Run HERE (a Debian machine with apt) before a device check: downloads the -dev packages the GPU
# machine lacks (GoogleTest, Google Benchmark, nlohmann-json, zlib, TurboJPEG) and unpacks them
# into .deps/root, and copies Fashion-MNIST into .deps/fashion-mnist. .deps is git-ignored: name it
# in the device tool's `carry`. tools/device_check.sh points CMake and the LeNet-5 check at it.
# The runtime libraries come too (zlib1g, libturbojpeg0, libbenchmark1debian): the GPU machine
# may be another distribution, where the -dev packages' libfoo.so links would dangle. Absolute
# links (zlib1g-dev's libz.so -> /lib/x86_64-linux-gnu/libz.so.1.2.13) are made relative, into
# .deps/root, so they hold wherever the tree travels.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.deps"
rm -rf "$dest/debs" "$dest/root"
mkdir -p "$dest/debs" "$dest/root"
cd "$dest/debs"
apt-get download libgtest-dev libgmock-dev libbenchmark-dev libbenchmark1debian nlohmann-json3-dev \
  zlib1g-dev zlib1g libturbojpeg0-dev libturbojpeg0 >/dev/null
for deb in *.deb; do dpkg -x "$deb" "$dest/root"; done
rm -rf "$dest/debs"
# Absolute symbolic links -> relative ones inside .deps/root (or fail loudly: nothing may point
# outside the tree).
while IFS= read -r link; do
  target=$(readlink "$link")
  if [[ ! -e $dest/root$target ]]; then
    echo "fetch_device_deps: $link -> $target points outside .deps/root" >&2
    exit 1
  fi
  ln -sfn "$(realpath --relative-to="$(dirname "$link")" "$dest/root$target")" "$link"
done < <(find "$dest/root" -type l -lname '/*')
# Fashion-MNIST (about 30 MB) for the LeNet-5 training check.
if [[ -d /usr/share/datasets/fashion-mnist ]]; then
  mkdir -p "$dest/fashion-mnist"
  cp /usr/share/datasets/fashion-mnist/*.gz "$dest/fashion-mnist/"
fi
du -sh "$dest/root"
