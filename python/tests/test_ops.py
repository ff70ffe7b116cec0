"""Every functional op of cudanet.ops, forward and backward, against PyTorch on random shapes,
in float32 and float64, with int and pair arguments."""

import numpy as np
import pytest
import torch.nn.functional as F

import cudanet
from cudanet import ops
from oracle import DEVICES, DTYPES, close, ours, random, theirs, torch


def conv_cases(count=6, seed=7):
    """Random convolutions (int or pair arguments, groups, bias or not) with outputs >= 1."""
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        groups = int(rng.choice([1, 1, 2, 3]))
        c = groups * int(rng.integers(1, 4))
        k = groups * int(rng.integers(1, 4))
        kernel = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
        stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        dilation = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        padding = (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
        h, w = int(rng.integers(5, 14)), int(rng.integers(5, 14))
        out_h = (h + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
        out_w = (w + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
        if out_h < 1 or out_w < 1:
            continue
        square = len(cases) % 2 == 0  # every other case passes ints where the pair is square
        arg = lambda p: p[0] if square and p[0] == p[1] else p  # noqa: E731
        cases.append(dict(n=int(rng.integers(1, 4)), c=c, h=h, w=w, k=k, kernel=kernel,
                          stride=arg(stride), padding=arg(padding), dilation=arg(dilation),
                          groups=groups, bias=bool(rng.integers(0, 2)) or len(cases) == 0))
    return cases


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", conv_cases(), ids=lambda c: f"g{c['groups']}k{c['kernel']}s{c['stride']}")
def test_conv2d_forward_and_backward(rng, device, dtype, case):
    n, c, k, g = case["n"], case["c"], case["k"], case["groups"]
    x = random(rng, (n, c, case["h"], case["w"]), dtype)
    w = random(rng, (k, c // g) + case["kernel"], dtype)
    b = random(rng, (k,), dtype) if case["bias"] else None
    args = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"], groups=g)

    tx, tw = theirs(x, device, True), theirs(w, device, True)
    tb = theirs(b, device, True) if b is not None else None
    ty = F.conv2d(tx, tw, tb, **args)
    dy = random(rng, tuple(ty.shape), dtype)
    ty.backward(torch.from_numpy(dy).to(ty.device))

    cx, cw = ours(x, device), ours(w, device)
    cb = ours(b, device) if b is not None else None
    y = ops.conv2d(cx, cw, cb, **args)
    close(y, ty, dtype)
    dx, dw, db = ops.conv2d_backward(ours(dy, device), cx, cw, cb, **args)
    close(dx, tx.grad, dtype)
    close(dw, tw.grad, dtype, scale=4)
    close(db, tb.grad if tb is not None else None, dtype, scale=4)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_forward_and_backward(rng, device, dtype, bias):
    n, i, o = (int(v) for v in rng.integers(1, 40, size=3))
    x, w = random(rng, (n, i), dtype), random(rng, (o, i), dtype)
    b = random(rng, (o,), dtype) if bias else None
    tx, tw = theirs(x, device, True), theirs(w, device, True)
    tb = theirs(b, device, True) if bias else None
    ty = F.linear(tx, tw, tb)
    dy = random(rng, (n, o), dtype)
    ty.backward(torch.from_numpy(dy).to(ty.device))

    cx, cw, cb = ours(x, device), ours(w, device), ours(b, device) if bias else None
    close(ops.linear(cx, cw, cb), ty, dtype)
    dx, dw, db = ops.linear_backward(ours(dy, device), cx, cw, cb)
    close(dx, tx.grad, dtype)
    close(dw, tw.grad, dtype)
    close(db, tb.grad if bias else None, dtype)


POOL_CASES = [  # kernel_size, stride, padding: ints, pairs, default stride
    (2, None, 0), (3, 2, 1), ((3, 2), (2, 1), (1, 0)), (2, 1, 0), ((2, 3), None, (1, 1)),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("kernel,stride,padding", POOL_CASES)
def test_pooling_forward_and_backward(rng, device, dtype, kind, kernel, stride, padding):
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, 5)), int(rng.integers(6, 12)),
             int(rng.integers(6, 12)))
    # Distinct values, so max pooling has no ties whose gradient PyTorch might route elsewhere.
    x = (rng.permutation(int(np.prod(shape))).reshape(shape) / 7.0).astype(dtype)
    forward = {"max": F.max_pool2d, "avg": F.avg_pool2d}[kind]
    tx = theirs(x, device, True)
    ty = forward(tx, kernel, stride, padding)
    dy = random(rng, tuple(ty.shape), dtype)
    ty.backward(torch.from_numpy(dy).to(ty.device))

    ours_forward = getattr(ops, f"{kind}_pool2d")
    ours_backward = getattr(ops, f"{kind}_pool2d_backward")
    cx = ours(x, device)
    close(ours_forward(cx, kernel, stride, padding), ty, dtype)
    close(ours_backward(ours(dy, device), cx, kernel, stride=stride, padding=padding), tx.grad,
          dtype)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_activations_forward_and_backward(rng, device, dtype, name):
    shape = tuple(int(s) for s in rng.integers(1, 7, size=int(rng.integers(1, 5))))
    x = random(rng, shape, dtype, -3, 3)
    tx = theirs(x, device, True)
    ty = getattr(torch, name)(tx)
    dy = random(rng, shape, dtype)
    ty.backward(torch.from_numpy(dy).to(ty.device))
    cx = ours(x, device)
    close(getattr(ops, name)(cx), ty, dtype, scale=5)
    close(getattr(ops, f"{name}_backward")(ours(dy, device), cx), tx.grad, dtype, scale=5)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size,alpha,beta,k", [(5, 1e-4, 0.75, 1.0), (3, 0.5, 0.6, 2.0),
                                               (4, 2.0, 1.5, 0.5)])
def test_local_response_norm_forward_and_backward(rng, device, dtype, size, alpha, beta, k):
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, 9)), int(rng.integers(1, 6)),
             int(rng.integers(1, 6)))
    x = random(rng, shape, dtype, -2, 2)
    tx = theirs(x, device, True)
    ty = F.local_response_norm(tx, size, alpha, beta, k)
    dy = random(rng, shape, dtype)
    ty.backward(torch.from_numpy(dy).to(ty.device))
    cx = ours(x, device)
    close(ops.local_response_norm(cx, size, alpha, beta, k), ty, dtype, scale=5)
    dx = ops.local_response_norm_backward(ours(dy, device), cx, size=size, alpha=alpha, beta=beta,
                                          k=k)
    close(dx, tx.grad, dtype, scale=5)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_forward_and_backward(rng, device, dtype):
    n, c = int(rng.integers(1, 33)), int(rng.integers(2, 20))
    logits = random(rng, (n, c), dtype, -5, 5)
    labels = rng.integers(0, c, size=n).astype(np.int64)
    tl = theirs(logits, device, True)
    loss = F.cross_entropy(tl, theirs(labels, device))
    loss.backward()
    cl, cy = ours(logits, device), ours(labels, device)
    ours_loss = ops.softmax_cross_entropy(cl, cy)
    assert ours_loss.shape == ()
    close(ours_loss, loss, dtype, scale=5)
    close(ops.softmax_cross_entropy_backward(cl, cy), tl.grad, dtype)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_keeps_scales_and_backpropagates_through_its_mask(rng, device, dtype):
    x = random(rng, (4, 3, 16, 16), dtype) + 2  # no zeros: a zero output means dropped
    p = 0.3
    y, mask = ops.dropout(ours(x, device), p, seed=1234, offset=5)
    assert mask.dtype == "uint8" and mask.shape == x.shape
    m = mask.numpy().astype(bool)
    assert 0.6 < m.mean() < 0.8  # 3072 draws: the kept fraction is 0.7 +- 0.03 (4 sigma)
    np.testing.assert_allclose(y.numpy(), np.where(m, x / (1 - p), 0), rtol=1e-6)
    # The same (seed, offset) draws the same mask; another offset another one.
    again = ops.dropout(ours(x, device), p, seed=1234, offset=5)[1].numpy()
    other = ops.dropout(ours(x, device), p, seed=1234, offset=6)[1].numpy()
    assert (again == mask.numpy()).all() and (other != mask.numpy()).any()
    dy = random(rng, x.shape, dtype)
    dx = ops.dropout_backward(ours(dy, device), mask, p)
    np.testing.assert_allclose(dx.numpy(), np.where(m, dy / (1 - p), 0), rtol=1e-6)


def test_ops_take_non_contiguous_views(rng):
    # A transposed torch tensor arrives through DLPack with strides; the ops copy it first.
    w = torch.from_numpy(random(rng, (5, 7), "float64"))
    x = torch.from_numpy(random(rng, (3, 5), "float64"))
    y = ops.linear(cudanet.from_dlpack(x), cudanet.from_dlpack(w.t()))
    np.testing.assert_allclose(y.numpy(), (x @ w).numpy(), rtol=1e-12)
