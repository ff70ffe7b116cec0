#!/usr/bin/env bash
# AlexNet end to end on the GPU through the real JPEG pipeline (tools/device_check.sh runs this):
#  1. accuracy: `cudanet train --model alexnet` on a synthetic 10-class ImageFolder of 500×375
#     JPEGs for a few epochs; validation top-1 must end well above chance (10%);
#  2. speed: alexnet-owt at batch 256 with and without --cuda-graph, next to PyTorch (torchvision
#     ImageFolder + DataLoader, same files, same recipe, same workers), images/s of training, the
#     GPU's busy fraction (nvidia-smi samples), and whether the pipeline or the GPU limits: the
#     pipeline alone (cudanet_pipeline_bench, all cores) against the end-to-end rate.
# TORCH_PYTHON names the Python with PyTorch (default python3). TIME_LIMIT_S (default none) bounds
# the whole script: each step's time limit is cut to what is left, keeping 15 s for the summary.
# Writes OUT/alexnet.md (a Markdown section) and OUT/alexnet_line.txt (one summary line).
#   bench/train/alexnet_imagefolder.sh OUT [PER_CLASS]
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build}
out=${1:?usage: alexnet_imagefolder.sh OUT [PER_CLASS]}
per_class=${2:-150}
workers=${WORKERS:-$(nproc)}
# For a plumbing check on a machine without a GPU: DEVICE=cpu BATCH=4 ACC_EPOCHS=1 SPEED_EPOCHS=1.
device=${DEVICE:-cuda}
batch=${BATCH:-256}
acc_epochs=${ACC_EPOCHS:-6}
speed_epochs=${SPEED_EPOCHS:-3}
mkdir -p "$out"
data=$(mktemp -d)  # the JPEGs stay out of OUT (it is a report directory)
trap 'rm -rf "$data"' EXIT
cli="$build/tools/cudanet"
limit_s=${TIME_LIMIT_S:-0}
t_start=$(date +%s)
# lim N: N seconds, or what is left of TIME_LIMIT_S (less 15 s for the summary) when that is less.
lim() {
  if ((limit_s <= 0)); then
    echo "$1"
    return
  fi
  local left=$((limit_s - ($(date +%s) - t_start) - 15))
  ((left < 5)) && left=5
  echo $(($1 < left ? $1 : left))
}

timeout "$(lim 120)" "$cli" make-synthetic-imagefolder "$data/train" --classes 10 --per-class "$per_class" \
  --size 500x375 --seed 1 >"$out/alexnet_data.log" 2>&1 &
timeout "$(lim 120)" "$cli" make-synthetic-imagefolder "$data/val" --classes 10 --per-class 30 --size 500x375 \
  --seed 2 >>"$out/alexnet_data.log" 2>&1 &
wait

gpu_busy() {  # runs "$@" while sampling the GPU's utilisation; prints the mean (%) to $busy_file
  local samples="$1"; shift
  nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits -lms 200 >"$samples" 2>/dev/null &
  local smi=$!
  "$@"
  local rc=$?
  kill "$smi" 2>/dev/null
  wait "$smi" 2>/dev/null
  return $rc
}

# ended NAME LIMIT: records the exit status of the step just run (and its time limit) in
# OUT/NAME.status, so that the summary tells a step that ran out of time from one that failed.
ended() { echo "$? $2" >"$out/$1.status"; }

# 1. accuracy (the seed's AlexNet, 227 crops, LRN), a short cosine schedule.
l=$(lim 240)
timeout "$l" "$cli" train --model alexnet --data "imagefolder:$data/train" --val "imagefolder:$data/val" \
  --epochs "$acc_epochs" --batch-size $((batch / 2)) --schedule cosine --lr 0.01 --device "$device" \
  --workers "$workers" \
  --metrics-out "$out/alexnet_accuracy.json" >"$out/alexnet_accuracy.log" 2>&1
ended alexnet_accuracy "$l"

# 2. speed, alexnet-owt at batch 256: eager, CUDA graph, PyTorch.
common=(--model alexnet-owt --data "imagefolder:$data/train" --val "imagefolder:$data/val"
        --epochs "$speed_epochs" --batch-size "$batch" --schedule constant --device "$device"
        --workers "$workers")
l=$(lim 240)
gpu_busy "$out/busy_eager.txt" timeout "$l" "$cli" train "${common[@]}" \
  --metrics-out "$out/alexnet_eager.json" >"$out/alexnet_eager.log" 2>&1
ended alexnet_eager "$l"
l=$(lim 240)
gpu_busy "$out/busy_graph.txt" timeout "$l" "$cli" train "${common[@]}" --cuda-graph \
  --metrics-out "$out/alexnet_graph.json" >"$out/alexnet_graph.log" 2>&1
ended alexnet_graph "$l"
l=$(lim 300)
gpu_busy "$out/busy_torch.txt" timeout "$l" "${TORCH_PYTHON:-python3}" "$root/bench/train/torch_alexnet_imagefolder.py" \
  --data "$data/train" --val "$data/val" --epochs "$speed_epochs" --batch-size "$batch" \
  --workers "$workers" --device "$device" \
  >"$out/alexnet_torch.json" 2>"$out/alexnet_torch.log"
ended alexnet_torch "$l"
timeout "$(lim 60)" "$build/bench/data/cudanet_pipeline_bench" "$data/train" --workers "$workers" --crop 224 \
  --batch "$batch" --seconds 5 >"$out/pipeline.json" 2>"$out/pipeline.log"

timeout 60 python3 - "$out" "$workers" "$batch" <<'PY'
import json, sys
d, workers = sys.argv[1], sys.argv[2]
def load(name):
    try:
        text = open(f"{d}/{name}").read().strip()
        try:
            return json.loads(text)  # cudanet's summaries: one indented object
        except ValueError:
            return json.loads(text.splitlines()[-1])  # scripts: the last line
    except Exception:
        return None
def failed(name):
    """Why step `name` left no result: "timed out after N s" or "failed (exit N)"."""
    try:
        rc, limit = open(f"{d}/{name}.status").read().split()
    except Exception:
        return "failed"
    return f"timed out after {limit} s" if rc in ("124", "137") else f"failed (exit {rc})"
def busy(name):
    try:
        v = [float(x) for x in open(f"{d}/{name}").read().split() if x.strip()]
        return f"{sum(v) / len(v):.0f}%" if v else "n/a"
    except Exception:
        return "n/a"
acc, eager, graph, torch, pipe = (load(n) for n in ("alexnet_accuracy.json", "alexnet_eager.json",
                                  "alexnet_graph.json", "alexnet_torch.json", "pipeline.json"))
pipe_rate = pipe["loader"][0]["images_per_sec"] if pipe else None
lines = ["## AlexNet end to end (synthetic 10-class ImageFolder, 500x375 JPEGs)", ""]
if acc:
    hist = ", ".join(f"{h['val_accuracy'] * 100:.0f}%" for h in acc["history"])
    lines.append(f"- accuracy run (alexnet, batch {acc['batch_size']}, {len(acc['history'])} epochs): validation top-1 per epoch {hist}; "
                 f"final top-1 {acc['val_top1'] * 100:.1f}%, top-5 {acc['val_top5'] * 100:.1f}% (chance 10%)")
else:
    lines.append(f"- accuracy run: {failed('alexnet_accuracy').upper()}, see alexnet_accuracy.log")
mib = lambda b: f"{b / 2**20:.0f} MiB"
batch = eager['batch_size'] if eager else (graph['batch_size'] if graph else sys.argv[3])
lines += ["", f"| alexnet-owt, batch {batch}, {workers} workers | train img/s | GPU busy | val top-1 | peak allocated |",
          "|---|---|---|---|---|"]
for name, r, b, step in (("cudanet eager", eager, "busy_eager.txt", "alexnet_eager"),
                         ("cudanet --cuda-graph", graph, "busy_graph.txt", "alexnet_graph")):
    lines.append(f"| {name} | {r['train_images_per_sec']:.0f} | {busy(b)} | {r['val_top1'] * 100:.1f}% | "
                 f"{mib(r.get('peak_allocated_bytes', 0))} |" if r
                 else f"| {name} | {failed(step)} (see {step}.log) | | | |")
lines.append(f"| PyTorch ({torch['data_pipeline']}) | {torch['train_images_per_sec']:.0f} | {busy('busy_torch.txt')} | "
             f"{torch['val_top1'] * 100:.1f}% | {mib(torch['peak_memory_bytes'])} |" if torch
             else f"| PyTorch | {failed('alexnet_torch')} (see alexnet_torch.log) | | | |")
if pipe_rate:
    lines.append(f"| JPEG pipeline alone (no GPU work) | {pipe_rate:.0f} | | | |")
best = max((r["train_images_per_sec"] for r in (eager, graph) if r), default=None)
if best and pipe_rate:
    verdict = "the pipeline" if best >= 0.9 * pipe_rate else "the GPU"
    lines += ["", f"Bottleneck: {verdict} (pipeline alone {pipe_rate:.0f} img/s vs end to end {best:.0f} img/s)."]
open(f"{d}/alexnet.md", "w").write("\n".join(lines) + "\n")
summary = []
if acc: summary.append(f"val top-1 {acc['val_top1'] * 100:.0f}% after {len(acc['history'])} epochs")
if eager: summary.append(f"eager {eager['train_images_per_sec']:.0f} img/s")
if graph: summary.append(f"graph {graph['train_images_per_sec']:.0f} img/s")
if torch: summary.append(f"PyTorch {torch['train_images_per_sec']:.0f} img/s")
open(f"{d}/alexnet_line.txt", "w").write(", ".join(summary) or "failed")
print("\n".join(lines))
PY
