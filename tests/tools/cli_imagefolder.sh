#!/usr/bin/env bash
# The command line end to end on the CPU: make-synthetic-imagefolder writes a small ImageFolder,
# `cudanet train --model alexnet-owt --data imagefolder:...` trains a few steps on it and writes
# its summary with top-5, and `cudanet eval` scores its checkpoint on the JPEGs; usage errors exit
# with status 2.
#   cli_imagefolder.sh PATH/TO/cudanet
set -euo pipefail
cli=${1:?usage: cli_imagefolder.sh CUDANET}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

"$cli" make-synthetic-imagefolder "$dir/data" --classes 2 --per-class 3 --size 64x48 --seed 4 |
  grep -q "wrote 6 JPEGs"
[[ -f $dir/data/class01/img00002.jpg ]]
set +e
"$cli" make-synthetic-imagefolder "$dir/x" --size 12y4 2>/dev/null
[[ $? == 2 ]] || { echo "a bad --size was not a usage error"; exit 1; }
"$cli" train --model alexnet-owt --data "imagefolder:$dir/missing" --device cpu 2>"$dir/err"
[[ $? == 1 ]] && grep -q "does not exist" "$dir/err" || { cat "$dir/err"; exit 1; }
set -e
"$cli" train --model alexnet-owt --data "imagefolder:$dir/data" --val "imagefolder:$dir/data" \
  --device cpu --epochs 1 --batch-size 2 --train-limit 2 --workers 2 \
  --metrics-out "$dir/m.json" --checkpoint-dir "$dir/ck" >"$dir/out.txt"
grep -q "top-5" "$dir/out.txt" || { cat "$dir/out.txt"; exit 1; }
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['val_top5'] >= d['val_top1'] and d['epochs'] == 1, d" "$dir/m.json"
# eval reads the checkpoint back and scores the JPEGs (centre crop, top-1 and top-5); the same
# data set gives the validation numbers the trainer printed.
"$cli" eval --model alexnet-owt --checkpoint "$dir/ck/last.safetensors" \
  --data "imagefolder:$dir/data" --device cpu --batch-size 4 >"$dir/eval.txt"
grep -q "images of 2 classes" "$dir/eval.txt" || { cat "$dir/eval.txt"; exit 1; }
val=$(grep -o "validation top-1 [0-9.]*%" "$dir/out.txt" | grep -o "[0-9.]*%")
grep -q "top-1 accuracy $val," "$dir/eval.txt" || { cat "$dir/out.txt" "$dir/eval.txt"; exit 1; }
# A data set with another number of classes does not fit the checkpoint: an error, not garbage.
"$cli" make-synthetic-imagefolder "$dir/three" --classes 3 --per-class 1 --size 64x48 >/dev/null
set +e
"$cli" eval --model alexnet-owt --checkpoint "$dir/ck/last.safetensors" \
  --data "imagefolder:$dir/three" --device cpu 2>"$dir/err3"
[[ $? == 1 ]] || { echo "a checkpoint of 2 classes evaluated 3"; cat "$dir/err3"; exit 1; }
set -e
echo "cli_imagefolder: ok"
