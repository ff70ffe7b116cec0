"""Data sets held in memory, the IDX reader and a seeded loader.

    train = data.fashion_mnist(train=True)              # normalised float32 N x 1 x 28 x 28
    loader = data.DataLoader(train, batch_size=64, seed=1, device="cpu")
    for images, labels in loader: ...                     # each iteration is a new epoch's order
"""

from ._cudanet import (  # noqa: F401
    Dataset, DataLoader, read_idx, write_idx, split_train_validation, fashion_mnist_classes,
)
from . import _cudanet

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"


def fashion_mnist(root=FASHION_MNIST_DIR, train=True):
    """Fashion-MNIST from a directory of IDX files (Debian's dataset-fashion-mnist installs it in
    FASHION_MNIST_DIR), normalised with the training set's mean and std. OSError when missing."""
    return _cudanet.fashion_mnist(root, train)


__all__ = ["Dataset", "DataLoader", "read_idx", "write_idx", "split_train_validation",
           "fashion_mnist", "fashion_mnist_classes", "FASHION_MNIST_DIR"]
