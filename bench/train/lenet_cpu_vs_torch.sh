#!/usr/bin/env bash
# LeNet-5 CPU training throughput: cudanet vs PyTorch (Debian's python3-torch) on this machine,
# same model, data, batch size (64) and thread count, in one go. Prints both and the ratio.
#   bench/train/lenet_cpu_vs_torch.sh [SAMPLES]     (default 8192 training images)
# Needs a built tree (build/tools/cudanet; BUILD_DIR to override) and `apt-get install python3-torch`.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build}
samples=${1:-8192}
threads=$(nproc)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

"$build/tools/cudanet" train --model lenet5 --device cpu --epochs 2 --batch-size 64 \
  --train-limit "$samples" --validation-size 1000 --metrics-out "$out/cudanet.json" >/dev/null
ours=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['train_images_per_sec'])" \
  "$out/cudanet.json")
theirs_json=$(/usr/bin/python3 "$root/bench/train/torch_lenet.py" --samples "$samples" \
  --threads "$threads")
theirs=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['train_images_per_sec'])" \
  "$theirs_json")
python3 - "$ours" "$theirs" "$threads" <<'PY'
import sys
ours, theirs, threads = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
print(f"| LeNet-5 CPU training, batch 64, {threads} threads | images/s |")
print("|---|---|")
print(f"| cudanet | {ours:.0f} |")
print(f"| PyTorch (python3-torch) | {theirs:.0f} |")
print(f"| ratio cudanet / PyTorch | {ours / theirs:.2f} |")
PY
