#!/usr/bin/env python3
"""Trains LeNet-5 on Fashion-MNIST with cudanet from Python and saves a PNG of its loss and
accuracy curves.

    python3 examples/python/train_lenet.py --epochs 2 --out runs/python-lenet5
    python3 examples/python/train_lenet.py --device cuda --train-limit 10000

Needs the package (`pip install ./python`), Fashion-MNIST (Debian's dataset-fashion-mnist, or
--data DIR) and matplotlib for the plot. Writes OUT/curves.png, OUT/history.json and
OUT/lenet5.safetensors.
"""

import argparse
import json
import os
import sys

import cudanet
from cudanet import data, optim


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=data.FASHION_MNIST_DIR, help="directory of the IDX files")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--train-limit", type=int, default=0, help="use only this many samples (0: all)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default="runs/python-lenet5", help="output directory")
    return p.parse_args()


def plot(history, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = history["epoch"]
    steps_per_epoch = len(history["loss"]) / max(len(epochs), 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    window = max(1, min(50, len(history["loss"]) // 20))
    smooth = [sum(history["loss"][max(0, i - window + 1):i + 1]) / len(history["loss"][max(0, i - window + 1):i + 1])
              for i in range(len(history["loss"]))]
    ax_loss.plot(history["step"], history["loss"], color="0.8", lw=0.5, label="step loss")
    ax_loss.plot(history["step"], smooth, color="C0", label=f"mean of {window} steps")
    ax_loss.plot([e["epoch"] * steps_per_epoch for e in epochs], [e["val_loss"] for e in epochs],
                 "o-", color="C1", label="validation loss")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("cross-entropy")
    ax_loss.set_title("LeNet-5 on Fashion-MNIST: loss")
    ax_loss.legend()
    x = [e["epoch"] for e in epochs]
    ax_acc.plot(x, [e["train_accuracy"] for e in epochs], "o-", label="training")
    ax_acc.plot(x, [e["val_accuracy"] for e in epochs], "o-", label="validation (test set)")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_title("accuracy")
    ax_acc.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    args = parse_args()
    device = args.device
    if device == "auto":
        device = "cuda" if cudanet.cuda_is_available() else "cpu"
    cudanet.manual_seed(args.seed)
    train = data.fashion_mnist(args.data, train=True)
    if args.train_limit:
        train = train.narrow(0, min(args.train_limit, len(train)))
    test = data.fashion_mnist(args.data, train=False)
    model = cudanet.models.lenet5()
    print(cudanet.models.summary(model, (1, 28, 28)))
    print(f"training on {device}: {len(train)} images, {args.epochs} epochs", flush=True)
    model.to(device)
    history = cudanet.fit(model, train, epochs=args.epochs, batch_size=args.batch_size,
                          optimizer=optim.SGD(model, lr=args.lr, momentum=args.momentum,
                                              weight_decay=5e-4),
                          device=device, validation_data=test, seed=args.seed, log_every=200)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "history.json"), "w") as f:
        json.dump(history, f)
    cudanet.save_checkpoint(os.path.join(args.out, "lenet5.safetensors"), model,
                            model_name="lenet5", epoch=args.epochs)
    png = os.path.join(args.out, "curves.png")
    try:
        plot(history, png)
        print(f"curves: {png}")
    except ImportError:
        print("matplotlib is missing (Debian: python3-matplotlib): no plot", file=sys.stderr)
    print(f"test accuracy {history['epoch'][-1]['val_accuracy']:.4f}")


if __name__ == "__main__":
    main()
