#!/usr/bin/env python3
"""The training-step benchmark: cudanet (hand-written and cuDNN backends) next to PyTorch + cuDNN
on the same GPU, in one run. AlexNet (the seed's) and AlexNet-OWT at batch 128 and 256, LeNet-5 at
batch 256; forward, backward and SGD update on synthetic data already on the GPU; the median
images/s after warm-up, peak memory, device mallocs per step and achieved TFLOP/s next to the
H100's peak. Writes OUT/train_bench.md (a Markdown table with the issue's targets checked) and
OUT/train_bench.json, and prints the table.

  bench/train/run_alexnet_bench.py --build build-device --out OUT [--tf32] [--python python3]
                                   [--time-limit SECONDS] [--configs MODEL:BATCH,...]

The same TF32 setting goes to both sides (off by default: strict FP32). Each configuration times
at most --max-seconds of steps after --warmup steps, so the whole run takes about a minute.
--time-limit bounds the whole run: cudanet's side gets about 55% of it, PyTorch's the rest; a side
stopped at its limit keeps the configurations it finished (both write their JSON after each one),
and the table is written either way.
"""
import argparse
import json
import os
import subprocess
import sys
import time

CONFIGS = ["alexnet:128", "alexnet:256", "alexnet-owt:128", "alexnet-owt:256", "lenet5:256"]


def run(cmd, log, timeout=None):
    """The command's exit status, "timed out after N s", or "could not start: ..."."""
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    with open(log, "w") as f:
        try:
            return subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT,
                                  timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            return f"timed out after {timeout:.0f} s"
        except OSError as e:
            return f"could not start: {e}"


def ended(rc):
    """How a side's command ended, for a note: "exit 1", "timed out after N s", ..."""
    return rc if isinstance(rc, str) else f"exit {rc}"


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def mib(b):
    return "n/a" if b is None or b < 0 else f"{b / 2**20:.0f}"


def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def table(ours, torch, tf32, configs=CONFIGS):
    """Rows per model and batch: images/s of each side, ratios against the targets, memory,
    mallocs per step and TFLOP/s."""
    by = {}
    for doc in (ours, torch):
        for r in (doc or {}).get("results", []):
            by[(r["model"], r["batch"], r["backend"])] = r
    peak = "TF32 495" if tf32 else "FP32 67"
    lines = [
        f"Training step (forward, backward, SGD), synthetic data on the GPU, TF32 "
        f"{'on' if tf32 else 'off'}; median after warm-up. TFLOP/s against the H100 and H200 SXM "
        f"peak ({peak}). Targets: cuDNN backend >= 1.2x PyTorch on AlexNet, native >= 0.5x cuDNN "
        f"backend, peak memory <= PyTorch's, 0 mallocs per step.",
        "",
        "| model | batch | native img/s | cudnn img/s | PyTorch img/s | cudnn / PyTorch | "
        "native / cudnn | peak MiB native / cudnn / PyTorch | mallocs/step native / cudnn / "
        "PyTorch | TFLOP/s native / cudnn / PyTorch |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for config in configs:
        model, batch = config.split(":")
        batch = int(batch)
        n, c, t = (by.get((model, batch, b)) for b in ("native", "cudnn", "pytorch"))
        ips = [r["images_per_sec"] if r else None for r in (n, c, t)]
        ratio_ct = ips[1] / ips[2] if ips[1] and ips[2] else None
        ratio_nc = ips[0] / ips[1] if ips[0] and ips[1] else None
        mark_ct = "" if ratio_ct is None else (" ok" if ratio_ct >= 1.2 else " MISS")
        mark_nc = "" if ratio_nc is None else (" ok" if ratio_nc >= 0.5 else " MISS")
        if not model.startswith("alexnet"):
            mark_ct = ""  # the 1.2x target is AlexNet's
        # Peak memory <= PyTorch's (docs/memory.md), for each of our backends that ran.
        peaks = [r["peak_bytes"] if r and r.get("peak_bytes", -1) >= 0 else None
                 for r in (n, c, t)]
        within = [p <= peaks[2] if p is not None and peaks[2] is not None else None
                  for p in peaks[:2]]
        mark_peak = "" if all(w is None for w in within) else (
            " ok" if all(w is not False for w in within) else " MISS")
        lines.append(
            f"| {model} | {batch} | {fmt(ips[0], '.0f')} | {fmt(ips[1], '.0f')} | "
            f"{fmt(ips[2], '.0f')} | {fmt(ratio_ct, '.2f')}{mark_ct} | "
            f"{fmt(ratio_nc, '.2f')}{mark_nc} | "
            + " / ".join(mib(r["peak_bytes"] if r else None) for r in (n, c, t)) + mark_peak
            + " | "
            + " / ".join(fmt(r.get("mallocs_per_step") if r else None, '.2f') for r in (n, c, t))
            + " | " + " / ".join(fmt(r["tflops"] if r else None, '.2f') for r in (n, c, t)) + " |")
        verdicts.append({"model": model, "batch": batch, "images_per_sec": ips,
                         "cudnn_over_pytorch": ratio_ct, "native_over_cudnn": ratio_nc,
                         "peak_bytes": peaks, "peak_within_pytorch": within})
    return "\n".join(lines) + "\n", verdicts


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--out", required=True)
    ap.add_argument("--python", default=sys.executable, help="the Python that has PyTorch")
    ap.add_argument("--tf32", action="store_true")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--max-seconds", type=float, default=3.0)
    ap.add_argument("--time-limit", type=float, default=0,
                    help="seconds for the whole run (0: no limit)")
    ap.add_argument("--configs", default=",".join(CONFIGS),
                    help="model:batch pairs (a smaller set for smoke runs)")
    args = ap.parse_args()
    configs = [c for c in args.configs.split(",") if c]
    t0 = time.monotonic()
    os.makedirs(args.out, exist_ok=True)
    here = os.path.dirname(os.path.abspath(__file__))
    common = ["--configs", ",".join(configs), "--steps", str(args.steps), "--warmup",
              str(args.warmup), "--max-seconds", str(args.max_seconds)]
    if args.tf32:
        common.append("--tf32")
    ours_json = os.path.join(args.out, "cudanet_train.json")
    torch_json = os.path.join(args.out, "torch_train.json")
    for stale in (ours_json, torch_json):
        if os.path.exists(stale):
            os.remove(stale)
    limit_ours = 0.55 * args.time_limit if args.time_limit > 0 else None
    rc_ours = run([os.path.join(args.build, "bench", "train", "cudanet_train_bench"), "--device",
                   "cuda", "--backends", "native,cudnn", "--json", ours_json] + common,
                  os.path.join(args.out, "cudanet_train.log"), limit_ours)
    limit_torch = (max(10.0, args.time_limit - (time.monotonic() - t0) - 5)
                   if args.time_limit > 0 else None)
    rc_torch = run([args.python, os.path.join(here, "torch_train_step.py"), "--json", torch_json]
                   + common, os.path.join(args.out, "torch_train.log"), limit_torch)
    ours, torch = load(ours_json), load(torch_json)
    md, verdicts = table(ours, torch, args.tf32, configs)
    notes = []
    if rc_ours != 0:
        notes.append(f"cudanet_train_bench: {ended(rc_ours)}"
                     f"{'' if ours else ', no results'}: see cudanet_train.log")
    for r in (ours or {}).get("errors", []):
        notes.append(f"cudanet {r['model']}:{r['batch']} {r['backend']} failed: {r['error']}")
    if rc_torch != 0:
        notes.append(f"PyTorch side: {ended(rc_torch)}{'' if torch else ', no results'}: "
                     f"see torch_train.log")
    if torch:
        notes.append(f"PyTorch {torch.get('torch')}, its cuDNN {torch.get('cudnn')}")
    if ours:
        notes.append(f"cudanet's cuDNN {ours.get('cudnn')}")
    md += "".join(f"\n- {n}" for n in notes) + "\n"
    with open(os.path.join(args.out, "train_bench.md"), "w") as f:
        f.write(md)
    with open(os.path.join(args.out, "train_bench.json"), "w") as f:
        json.dump({"tf32": args.tf32, "cudanet": ours, "pytorch": torch, "summary": verdicts}, f,
                  indent=1)
    print(md)
    return 0 if ours is not None and torch is not None else 1


if __name__ == "__main__":
    sys.exit(main())
