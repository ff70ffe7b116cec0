#!/usr/bin/env python3
"""PyTorch's side of docs/memory.md: the bytes autograd keeps for backward after one training
forward of the benchmark's models (bench/train/torch_train_step.py), counted on the CPU through
torch.autograd.graph.saved_tensors_hooks: each saved tensor's storage once, parameters excluded.
Also the same models with ReLU(inplace=True), as torchvision writes AlexNet. The bytes are linear
in the batch; --scale-to prints them for another batch size.

  bench/train/torch_saved_bytes.py [--batch 2] [--scale-to 128] [--models alexnet,alexnet-owt]
"""
import argparse
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_train_step  # noqa: E402  (the benchmark's model definitions)


def storage_key(t):
    s = t.storage()
    return s.data_ptr(), s.nbytes()


def saved_bytes(model, x, labels):
    params = {p.data_ptr() for p in model.parameters()}
    seen = {}

    def pack(t):
        ptr, nbytes = storage_key(t)
        if ptr not in params and ptr != 0:
            seen[ptr] = nbytes
        return t

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, labels)
    loss.backward()
    return sum(seen.values())


def with_inplace_relu(model):
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = True
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--scale-to", type=int, default=128)
    ap.add_argument("--models", default="alexnet,alexnet-owt")
    args = ap.parse_args()
    torch.manual_seed(0)
    scale = args.scale_to / args.batch
    print(f"| model | ReLU | saved bytes, batch {args.batch} | MiB at batch {args.scale_to} |")
    print("|---|---|---|---|")
    for name in args.models.split(","):
        for inplace in (False, True):
            model, _ = torch_train_step.build(name)
            if inplace:
                with_inplace_relu(model)
            x = torch.randn(args.batch, *torch_train_step.INPUT[name])
            labels = torch.arange(args.batch) % 10
            b = saved_bytes(model, x, labels)
            print(f"| {name} | {'inplace' if inplace else 'out of place'} | {b} | "
                  f"{b * scale / 2**20:.1f} |")


if __name__ == "__main__":
    main()
