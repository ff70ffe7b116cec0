"""Functional ops on cudanet tensors (NCHW, float32 or float64), each forward with an explicit
backward returning the gradients in argument order.

    y = conv2d(x, w, b, stride=1, padding=0, dilation=1, groups=1)
    dx, dw, db = conv2d_backward(dy, x, w, b, stride=1, padding=0, dilation=1, groups=1)
    y = linear(x, w, b)                      # x @ w.T + b
    dx, dw, db = linear_backward(dy, x, w, b)
    max_pool2d / avg_pool2d(x, kernel_size, stride=None, padding=0) and *_backward(dy, x, ...)
    relu / sigmoid / tanh(x) and *_backward(dy, x)
    local_response_norm(x, size=5, alpha=1e-4, beta=0.75, k=1.0) and its _backward(dy, x, ...)
    loss = softmax_cross_entropy(logits, labels)      # mean over the batch, labels int64
    dlogits = softmax_cross_entropy_backward(logits, labels)
    y, mask = dropout(x, p, seed, offset=0);  dx = dropout_backward(dy, mask, p)

Stride, padding, dilation and kernel sizes take an int or a pair, as PyTorch's do. ``db`` is None
when ``b`` is None.
"""

from ._cudanet.ops import (  # noqa: F401
    conv2d, conv2d_backward, linear, linear_backward, max_pool2d, max_pool2d_backward,
    avg_pool2d, avg_pool2d_backward, relu, relu_backward, sigmoid, sigmoid_backward, tanh,
    tanh_backward, local_response_norm, local_response_norm_backward, softmax_cross_entropy,
    softmax_cross_entropy_backward, dropout, dropout_backward,
)

__all__ = [name for name in dir() if not name.startswith("_")]
