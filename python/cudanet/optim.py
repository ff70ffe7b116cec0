"""Optimizers over a model's parameters (PyTorch's update formulas; one fused kernel per
parameter), and gradient clipping.

    opt = optim.SGD(model, lr=0.02, momentum=0.9, weight_decay=5e-4)
    opt.zero_grad(); ...backward...; opt.step()
"""

from ._cudanet import Optimizer, SGD, Adam, clip_grad_norm  # noqa: F401


def AdamW(model, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    """Adam with decoupled weight decay (PyTorch's AdamW)."""
    return Adam(model, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, decoupled=True)


__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "clip_grad_norm"]
