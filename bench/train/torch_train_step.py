#!/usr/bin/env python3
"""PyTorch's side of the training-step benchmark (bench/train/run_alexnet_bench.py).

The same models as cudanet's zoo, written out (LeNet-5, the seed's AlexNet with LRN; AlexNet-OWT
from torchvision when it is installed, else written out with torchvision's layout), the same step
(cross-entropy, backward, SGD with momentum 0.9 and weight decay 5e-4) on synthetic data already on
the GPU, cudnn.benchmark = True, and the same TF32 setting as cudanet (--tf32 turns it on for
cuDNN and cuBLAS alike; off by default). Reports, per model:batch, the median step time after
warm-up, images/s, peak memory (max_memory_allocated after warm-up), device mallocs per step
(num_device_alloc, where this PyTorch reports it), FLOPs per step and achieved TFLOP/s.

  torch_train_step.py --configs alexnet:128,alexnet:256 [--tf32] [--json out.json]
"""
import argparse
import json
import os
import statistics
import time

import torch
from torch import nn
import torch.nn.functional as F

INPUT = {"lenet5": (1, 28, 28), "alexnet": (3, 227, 227), "alexnet-owt": (3, 224, 224)}


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 120, 5), nn.ReLU(), nn.Flatten(),
        nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def classifier(dropout=0.5):
    # cudanet's order: fc, ReLU, dropout.
    return [nn.Flatten(),
            nn.Linear(256 * 6 * 6, 4096), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(4096, 1000)]


def alexnet():
    """The seed's figure: 96-256-384-384-256 channels, LRN after conv1 and conv2, 227x227."""
    return nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(), nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, padding=2), nn.ReLU(), nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        *classifier())


def alexnet_owt():
    """torchvision's AlexNet ("one weird trick"); written out when torchvision is missing."""
    try:
        import torchvision
        return torchvision.models.alexnet(num_classes=1000), "torchvision"
    except ImportError:
        pass
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        *classifier()), "written out"


def build(name):
    if name == "lenet5":
        return lenet5(), "written out"
    if name == "alexnet":
        return alexnet(), "written out"
    if name == "alexnet-owt":
        return alexnet_owt()
    raise SystemExit(f"unknown model {name}")


def training_flops(model, x):
    """2 FLOPs per multiply-add of the convolutions and linear layers: forward, filter gradient,
    and the input gradient of every such layer but the first (as cudanet counts)."""
    macs = []

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            k = module.weight.shape  # [K, C/groups, R, S]
            macs.append(output.numel() * k[1] * k[2] * k[3])
        elif isinstance(module, nn.Linear):
            macs.append(inputs[0].shape[0] * module.in_features * module.out_features)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return sum(2 * m * (2 if i == 0 else 3) for i, m in enumerate(macs))


def run(name, batch, args, device):
    torch.manual_seed(1)
    model, source = build(name)
    model = model.to(device)
    x = torch.empty((batch, *INPUT[name]), device=device).uniform_(-1, 1)
    classes = 10 if name == "lenet5" else 1000
    y = torch.arange(batch, device=device) % classes
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    flops = training_flops(model, x)

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    mallocs0 = torch.cuda.memory_stats().get("num_device_alloc")
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    t_begin = time.monotonic()
    for i in range(args.steps):
        start.record()
        step()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
        if args.max_seconds > 0 and time.monotonic() - t_begin > args.max_seconds and i >= 2:
            break
    mallocs1 = torch.cuda.memory_stats().get("num_device_alloc")
    median = statistics.median(times)
    return {
        "model": name, "backend": "pytorch", "source": source, "batch": batch,
        "device": torch.cuda.get_device_name(device), "steps": len(times),
        "median_ms": median, "images_per_sec": batch * 1000.0 / median,
        "peak_bytes": torch.cuda.max_memory_allocated(),
        "mallocs_per_step": (mallocs1 - mallocs0) / len(times) if mallocs0 is not None else None,
        "gflop_per_step": flops / 1e9, "tflops": flops / 1e9 / median,
        "peak_tflops": 495.0 if args.tf32 else 67.0,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="alexnet:128")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--max-seconds", type=float, default=0)
    ap.add_argument("--tf32", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("torch_train_step.py: PyTorch sees no CUDA GPU")
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    device = torch.device("cuda")
    results, errors = [], []
    for config in args.configs.split(","):
        name, batch = config.split(":")
        try:
            r = run(name, int(batch), args, device)
        except Exception as e:  # noqa: BLE001 - one configuration's failure (OOM, ...) ends only it
            print(f"| {name} | {batch} | pytorch | failed: {e} |", flush=True)
            errors.append({"model": name, "batch": int(batch), "backend": "pytorch",
                           "error": str(e).splitlines()[0] if str(e) else type(e).__name__})
            torch.cuda.empty_cache()
        else:
            print(f"| {name} | {batch} | pytorch | {r['median_ms']:.2f} | {r['images_per_sec']:.0f} | "
                  f"{r['peak_bytes'] / 2**20:.0f} | {r['mallocs_per_step']} | "
                  f"{r['gflop_per_step']:.1f} | {r['tflops']:.2f} |", flush=True)
            results.append(r)
        # After every configuration, so a run stopped at its time limit keeps what it measured.
        if args.json:
            doc = {"framework": "pytorch", "torch": torch.__version__,
                   "cudnn": str(torch.backends.cudnn.version()), "tf32": args.tf32,
                   "results": results, "errors": errors}
            with open(args.json + ".tmp", "w") as f:
                json.dump(doc, f, indent=1)
            os.replace(args.json + ".tmp", args.json)
    if errors:
        raise SystemExit(f"torch_train_step.py: {len(errors)} configuration(s) failed")


if __name__ == "__main__":
    main()
