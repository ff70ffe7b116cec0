#!/usr/bin/env bash
# LeNet-5 CPU training throughput: cudanet vs PyTorch (Debian's python3-torch) on this machine,
# same model, data, batch size (64) and thread count, in one go. Prints both and the ratio.
# Environment: ROUNDS (default 5), BUILD_DIR.
#   bench/train/lenet_cpu_vs_torch.sh [SAMPLES]     (default 8192 training images)
# Needs a built tree (build/tools/cudanet; BUILD_DIR to override) and `apt-get install python3-torch`.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build}
samples=${1:-8192}
threads=$(nproc)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# ROUNDS alternating runs of each (default 5): a shared machine is noisy, so the table gives the
# median of each side and the median of the per-round ratios.
rounds=${ROUNDS:-5}
results=()
for ((i = 1; i <= rounds; ++i)); do
  "$build/tools/cudanet" train --model lenet5 --device cpu --epochs 2 --batch-size 64 \
    --train-limit "$samples" --validation-size 1000 --metrics-out "$out/cudanet.json" >/dev/null
  ours=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['train_images_per_sec'])" \
    "$out/cudanet.json")
  theirs_json=$(/usr/bin/python3 "$root/bench/train/torch_lenet.py" --samples "$samples" \
    --threads "$threads")
  theirs=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['train_images_per_sec'])" \
    "$theirs_json")
  echo "round $i: cudanet $ours img/s, PyTorch $theirs img/s" >&2
  results+=("$ours:$theirs")
done
python3 - "$threads" "${results[@]}" <<'PY'
import statistics, sys
threads = sys.argv[1]
pairs = [tuple(map(float, r.split(":"))) for r in sys.argv[2:]]
ours = statistics.median(p[0] for p in pairs)
theirs = statistics.median(p[1] for p in pairs)
ratios = sorted(p[0] / p[1] for p in pairs)
print(f"| LeNet-5 CPU training, batch 64, {threads} threads, {len(pairs)} rounds | images/s (median) |")
print("|---|---|")
print(f"| cudanet | {ours:.0f} |")
print(f"| PyTorch (python3-torch) | {theirs:.0f} |")
print(f"| ratio cudanet / PyTorch (median of rounds; range) | {statistics.median(ratios):.2f} "
      f"({ratios[0]:.2f}-{ratios[-1]:.2f}) |")
PY
