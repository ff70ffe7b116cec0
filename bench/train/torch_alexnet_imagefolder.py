#!/usr/bin/env python3
"""AlexNet ("one weird trick", torchvision's layout = cudanet's alexnet-owt) trained in PyTorch on
an ImageFolder of JPEGs: the reference for `cudanet train --model alexnet-owt --data
imagefolder:DIR`. Same recipe (SGD, momentum 0.9, weight decay 5e-4), same transforms (Resize 256,
RandomCrop 224, RandomHorizontalFlip, Normalize with ImageNet statistics; centre crop for
validation), torchvision's ImageFolder and a DataLoader with pinned memory and W workers when
torchvision is installed (a PIL-based equivalent otherwise). Prints one JSON line: images/s of
each epoch (training only), the median after the first, and validation top-1."""
import argparse
import json
import os
import statistics
import time

import torch
from torch import nn


def alexnet_owt(classes):
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
        nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Linear(4096, classes))


def datasets(train_dir, val_dir):
    try:
        from torchvision import datasets as tvd, transforms as T
        norm = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
        train = tvd.ImageFolder(train_dir, T.Compose([T.Resize(256), T.RandomCrop(224),
                                                      T.RandomHorizontalFlip(), T.ToTensor(), norm]))
        val = tvd.ImageFolder(val_dir, T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                                                  norm]))
        return train, val, "torchvision"
    except ImportError:
        return PilFolder(train_dir, True), PilFolder(val_dir, False), "PIL (no torchvision)"


class PilFolder(torch.utils.data.Dataset):
    """torchvision's ImageFolder + transforms above, with PIL and numpy only."""

    def __init__(self, root, train):
        self.items, self.train = [], train
        for label, c in enumerate(sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))):
            for f in sorted(os.listdir(os.path.join(root, c))):
                self.items.append((os.path.join(root, c, f), label))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        import numpy as np
        from PIL import Image
        path, label = self.items[i]
        img = Image.open(path).convert("RGB")
        w, h = img.size
        size = (256, int(256 * h / w)) if w <= h else (int(256 * w / h), 256)
        img = img.resize(size, Image.BILINEAR)
        if self.train:
            x, y = np.random.randint(0, size[0] - 223), np.random.randint(0, size[1] - 223)
        else:
            x, y = (size[0] - 224) // 2, (size[1] - 224) // 2
        img = img.crop((x, y, x + 224, y + 224))
        if self.train and np.random.rand() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        a = np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255.0
        mean = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(3, 1, 1)
        std = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(3, 1, 1)
        return torch.from_numpy((a - mean) / std), label


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--val", required=True)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args()
    torch.manual_seed(1)
    train, val, kind = datasets(a.data, a.val)
    dl = torch.utils.data.DataLoader(train, batch_size=a.batch_size, shuffle=True,
                                     num_workers=a.workers, pin_memory=True, drop_last=False,
                                     persistent_workers=a.workers > 0)
    vl = torch.utils.data.DataLoader(val, batch_size=a.batch_size, num_workers=a.workers,
                                     pin_memory=True)
    dev = torch.device(a.device)
    classes = len(set(label for _, label in getattr(train, "samples", train.items)))
    model = alexnet_owt(classes).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    torch.backends.cudnn.benchmark = True
    rates, top1 = [], 0.0
    for epoch in range(a.epochs):
        model.train()
        t0, seen = time.perf_counter(), 0
        for x, y in dl:
            x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            loss.item()  # one synchronisation per step, as cudanet's trainer does
            seen += x.shape[0]
        rates.append(seen / (time.perf_counter() - t0))
        model.eval()
        correct = total = 0
        with torch.no_grad():
            for x, y in vl:
                x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
                correct += (model(x).argmax(1) == y).sum().item()
                total += y.shape[0]
        top1 = correct / max(total, 1)
    peak = torch.cuda.max_memory_allocated() if dev.type == "cuda" else 0
    print(json.dumps({"data_pipeline": kind, "workers": a.workers, "batch_size": a.batch_size,
                      "epoch_images_per_sec": rates,
                      "train_images_per_sec": statistics.median(rates[1:] or rates),
                      "val_top1": top1, "peak_memory_bytes": peak}))


if __name__ == "__main__":
    main()
