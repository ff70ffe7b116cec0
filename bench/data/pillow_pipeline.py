#!/usr/bin/python3
"""The JPEG pipeline with Pillow and numpy, as torchvision's ImageNet training transform does it
(PIL decode, Resize(256) bilinear, RandomCrop(227), RandomHorizontalFlip, ToTensor, Normalize),
on the same ImageFolder: images/s on one process and on N processes. Prints one JSON object.
Run with Debian's /usr/bin/python3 (python3-pil, python3-numpy).
  pillow_pipeline.py DIR [--procs 1,2] [--seconds 3] [--crop 227]
"""
import argparse
import json
import multiprocessing as mp
import os
import random
import time

import numpy as np
from PIL import Image

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(3, 1, 1)


def files(root):
    out = []
    for c in sorted(os.listdir(root)):
        d = os.path.join(root, c)
        if os.path.isdir(d):
            out += [os.path.join(d, f) for f in sorted(os.listdir(d)) if f.lower().endswith((".jpg", ".jpeg"))]
    return out


def one(path, crop, rng):
    with open(path, "rb") as f:
        img = Image.open(f)
        img = img.convert("RGB")
    w, h = img.size
    if w <= h:
        size = (256, int(256 * h / w))
    else:
        size = (int(256 * w / h), 256)
    img = img.resize(size, Image.BILINEAR)
    x = rng.randint(0, size[0] - crop)
    y = rng.randint(0, size[1] - crop)
    img = img.crop((x, y, x + crop, y + crop))
    if rng.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    a = np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255.0
    return (a - MEAN) / STD


def run(args):
    paths, crop, seconds, seed = args
    rng = random.Random(seed)
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        one(paths[n % len(paths)], crop, rng)
        n += 1
    return n, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--procs", default="1")
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--crop", type=int, default=227)
    a = ap.parse_args()
    paths = files(a.dir)
    run((paths, a.crop, 0.5, 0))  # warm the page cache
    n, t = run((paths, a.crop, a.seconds, 1))
    out = {"images": len(paths), "crop": a.crop, "single_process_images_per_sec": n / t,
           "pillow": Image.__version__, "numpy": np.__version__, "procs": []}
    for p in [int(x) for x in a.procs.split(",")]:
        with mp.Pool(p) as pool:
            res = pool.map(run, [(paths, a.crop, a.seconds, 10 + i) for i in range(p)])
        rate = sum(r[0] for r in res) / max(r[1] for r in res)
        out["procs"].append({"procs": p, "images_per_sec": rate, "per_proc": rate / p})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
