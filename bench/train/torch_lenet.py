#!/usr/bin/env python3
"""LeNet-5 training throughput in PyTorch on the CPU, for comparison with `cudanet train`.

The same architecture as cudanet's `lenet5` (C1 6@28x28 5x5 pad 2, ReLU, max-pool 2, C3 16@10x10,
ReLU, max-pool 2, C5 120, ReLU, F6 84, ReLU, 10 outputs), the same data (Fashion-MNIST, normalised)
and the same recipe (SGD, momentum 0.9, weight decay 5e-4, batch 64). Prints one JSON line with
train_images_per_sec (after one warm-up pass over 20 batches)."""
import argparse
import gzip
import json
import os
import time

import numpy as np
import torch
from torch import nn


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 120, 5), nn.ReLU(), nn.Flatten(),
        nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--samples", type=int, default=8192)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--device", default="cpu", help="cpu or cuda (cuDNN, benchmark mode)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    images = read_idx(os.path.join(args.data, "train-images-idx3-ubyte.gz"))[: args.samples]
    labels = read_idx(os.path.join(args.data, "train-labels-idx1-ubyte.gz"))[: args.samples]
    x = (torch.from_numpy(images.astype(np.float32) / 255.0) - 0.2860) / 0.3530
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    x = x.unsqueeze(1).to(device)
    y = torch.from_numpy(labels.astype(np.int64)).to(device)
    model = lenet5().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    b = args.batch_size

    def run(n_batches):
        perm = torch.randperm(x.shape[0], device=device)
        done = 0
        for i in range(n_batches):
            idx = perm[(i * b) % (x.shape[0] - b):][:b]
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            loss.item()  # one host sync per step, as cudanet's trainer does
            done += idx.shape[0]
        return done

    run(20)  # warm-up
    batches = args.samples // b
    t0 = time.perf_counter()
    done = run(batches)
    seconds = time.perf_counter() - t0
    print(json.dumps({"framework": "pytorch", "torch": torch.__version__, "device": args.device,
                      "threads": args.threads,
                      "batch_size": b, "images": done, "seconds": seconds,
                      "train_images_per_sec": done / seconds}))


if __name__ == "__main__":
    main()
