"""Helpers shared by the tests: moving arrays between NumPy, cudanet and PyTorch, and comparing
with dtype-aware tolerances."""

import numpy as np
import pytest

import cudanet

torch = pytest.importorskip("torch")

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]
DTYPES = ["float32", "float64"]
# |ours - torch| <= atol + rtol |torch|; float32 sums of a few hundred products stay well inside.
TOLERANCE = {"float32": dict(rtol=2e-4, atol=2e-5), "float64": dict(rtol=1e-10, atol=1e-12)}


def torch_device(device):
    """Where PyTorch computes the reference: the same GPU when it has one, else the CPU."""
    return "cuda" if device == "cuda" and torch.cuda.is_available() else "cpu"


def ours(array, device):
    return cudanet.tensor(np.ascontiguousarray(array), device=device)


def theirs(array, device, grad=False):
    t = torch.from_numpy(np.array(array)).to(torch_device(device))
    return t.requires_grad_(grad)


def close(actual, expected, dtype, scale=1.0):
    """Asserts that a cudanet tensor (or None) matches a torch tensor (or None)."""
    if expected is None:
        assert actual is None
        return
    assert actual is not None
    a = actual.numpy()
    e = expected.detach().cpu().numpy()
    assert a.shape == e.shape, (a.shape, e.shape)
    assert str(a.dtype) == dtype
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(a, e, rtol=tol["rtol"] * scale, atol=tol["atol"] * scale)


def random(rng, shape, dtype, low=-1.0, high=1.0):
    return rng.uniform(low, high, size=shape).astype(dtype)

# The reference in full FP32 on the GPU too (PyTorch lets cuDNN convolutions use TF32 by default).
torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False
