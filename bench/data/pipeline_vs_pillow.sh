#!/usr/bin/env bash
# JPEG pipeline throughput: cudanet (TurboJPEG + fused resize/crop, ImageLoader threads) next to
# Pillow + numpy doing the same work (decode, resize 256, random crop, flip, normalise) in the same
# run, on the same synthetic ImageNet-sized JPEGs (500×375). Prints a Markdown table.
#   bench/data/pipeline_vs_pillow.sh [WORKERS e.g. 1,2,16] [SECONDS]
# Needs a built tree (BUILD_DIR, default build) and a Python with Pillow and numpy: PILLOW_PYTHON,
# else python3 when it has them (the GPU machine's), else Debian's /usr/bin/python3 (python3-pil).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build}
workers=${1:-1,$(nproc)}
seconds=${2:-3}
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT

"$build/tools/cudanet" make-synthetic-imagefolder "$data" --classes 10 --per-class 30 \
  --size 500x375 --seed 1 >/dev/null
ours=$("$build/bench/data/cudanet_pipeline_bench" "$data" --workers "$workers" --seconds "$seconds")
pillow_python=${PILLOW_PYTHON:-}
if [[ -z $pillow_python ]]; then
  pillow_python=/usr/bin/python3
  python3 -c "import PIL, numpy" 2>/dev/null && pillow_python=python3
fi
theirs=$("$pillow_python" "$root/bench/data/pillow_pipeline.py" "$data" --procs "$workers" \
  --seconds "$seconds")
python3 - "$ours" "$theirs" "$(nproc)" <<'PY'
import json, sys
ours, theirs, cores = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
print(f"| JPEG pipeline, 500x375 -> 256 -> {ours['crop']} crop, {cores} cores | cudanet img/s | Pillow img/s | ratio |")
print("|---|---|---|---|")
o1, p1 = ours["single_thread_images_per_sec"], theirs["single_process_images_per_sec"]
print(f"| one thread / process | {o1:.0f} | {p1:.0f} | {o1 / p1:.2f} |")
for lo, pp in zip(ours["loader"], theirs["procs"]):
    print(f"| {lo['workers']} workers (total) | {lo['images_per_sec']:.0f} | {pp['images_per_sec']:.0f} | "
          f"{lo['images_per_sec'] / pp['images_per_sec']:.2f} |")
    print(f"| {lo['workers']} workers (per worker) | {lo['per_worker']:.0f} | {pp['per_proc']:.0f} | "
          f"{lo['per_worker'] / pp['per_proc']:.2f} |")
print(f"\ncudanet one thread: decode alone {ours['decode_only_images_per_sec']:.0f} img/s "
      f"(DCT-scaled); Pillow {theirs['pillow']}, numpy {theirs['numpy']}")
PY
