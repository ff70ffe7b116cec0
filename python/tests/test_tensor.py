"""Tensors: construction from NumPy, metadata, devices and dtypes, printing, and zero-copy
exchange with NumPy and PyTorch through DLPack."""

import sys

import numpy as np
import pytest

import cudanet
from oracle import torch

ALL_DTYPES = ["float32", "float64", "float16", "int32", "int64", "uint8"]


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_tensor_copies_a_numpy_array_with_its_shape_and_dtype(rng, dtype):
    a = (rng.uniform(0, 100, size=(2, 3, 4))).astype(dtype)
    t = cudanet.tensor(a)
    assert t.shape == (2, 3, 4) and t.dtype == dtype and t.device == "cpu" and t.ndim == 3
    assert t.numel() == 24 and len(t) == 2 and t.is_contiguous()
    np.testing.assert_array_equal(t.numpy(), a)
    before = t.numpy().copy()
    a += 1  # a copy: the tensor does not change
    np.testing.assert_array_equal(t.numpy(), before)


def test_tensor_follows_pytorch_defaults_for_python_numbers():
    assert cudanet.tensor([1.5, 2.0]).dtype == "float32"
    assert cudanet.tensor([1, 2]).dtype == "int64"
    assert cudanet.tensor(np.zeros(3)).dtype == "float64"  # an array keeps its dtype
    assert cudanet.tensor([1, 2], dtype="float64").dtype == "float64"
    assert cudanet.tensor(np.ones(2, np.float32), dtype=np.float64).dtype == "float64"
    assert cudanet.tensor(3.0).shape == ()


def test_tensor_converts_dtypes_and_reads_items():
    t = cudanet.tensor([[1.25, -2.5]], dtype="float64")
    assert t.to("float32").dtype == "float32"
    assert t.to("float64") is not None
    np.testing.assert_array_equal(t.to("int32").numpy(), [[1, -2]])
    assert cudanet.tensor([4.5]).item() == 4.5
    assert cudanet.tensor([[3]]).tolist() == [[3]]
    np.testing.assert_array_equal(cudanet.tensor([[1.0, 2.0]]).to("bfloat16").numpy(), [[1, 2]])


def test_tensor_of_a_tensor_is_a_copy():
    t = cudanet.tensor([1.0, 2.0])
    u = cudanet.tensor(t)
    assert u.data_ptr != t.data_ptr and u.numpy().tolist() == [1.0, 2.0]
    v = cudanet.tensor(t, dtype="float64")
    assert v.dtype == "float64" and v.numpy().tolist() == [1.0, 2.0]


def test_views_and_copies():
    t = cudanet.tensor(np.arange(24, dtype=np.float32))
    r = t.reshape(2, 3, 4)
    assert r.shape == (2, 3, 4) and r.data_ptr == t.data_ptr
    assert t.reshape((4, -1)).shape == (4, 6)
    assert r.flatten(1).shape == (2, 12)
    c = t.clone()
    assert c.data_ptr != t.data_ptr
    c.fill_(3)
    assert t.numpy()[1] == 1 and (c.numpy() == 3).all()
    t.copy_(c)
    assert (t.numpy() == 3).all()
    z = cudanet.zeros((2, 2), dtype="float64")
    assert z.dtype == "float64" and (z.numpy() == 0).all()
    assert (cudanet.full([3], 2.5).numpy() == 2.5).all()


def test_repr_is_readable():
    t = cudanet.tensor(np.array([[1, 2], [3, 4]], dtype=np.float32))
    text = repr(t)
    assert text.startswith("tensor([[") and "shape=[2, 2]" in text
    assert "dtype=float32" in text and "device=cpu" in text
    big = repr(cudanet.zeros((1000,)))
    assert "..." in big and len(big) < 200


def test_numpy_view_shares_memory_both_ways(rng):
    t = cudanet.tensor(rng.standard_normal((3, 4)).astype(np.float32))
    a = t.numpy()
    assert a.ctypes.data == t.data_ptr and a.flags.writeable
    a[1, 2] = 99.0
    assert t.numpy()[1, 2] == 99.0
    del t  # the array keeps the memory alive
    assert a[1, 2] == 99.0 and np.asarray(a).sum() != 0


def test_from_dlpack_numpy_is_zero_copy():
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    t = cudanet.from_dlpack(a)
    assert t.data_ptr == a.ctypes.data and t.shape == (3, 4) and t.dtype == "float64"
    a[2, 3] = -1
    assert t.numpy()[2, 3] == -1
    b = np.from_dlpack(t)
    assert b.ctypes.data == a.ctypes.data
    del a, b  # the tensor keeps NumPy's memory alive
    assert t.numpy()[0, 1] == 1


def test_imported_memory_is_released_when_the_last_tensor_goes():
    a = np.ones((4, 4), np.float32)
    before = sys.getrefcount(a)
    t = cudanet.from_dlpack(a)
    views = [t.reshape(16), t.clone(), cudanet.ops.relu(t)]
    assert sys.getrefcount(a) > before  # the tensor holds the array
    del t
    assert sys.getrefcount(a) > before  # the reshape still shares its memory
    views.clear()
    assert sys.getrefcount(a) == before


def test_numpy_strided_views_keep_their_strides():
    a = np.arange(20, dtype=np.float32).reshape(4, 5)
    t = cudanet.from_dlpack(a[:, 1:4])
    assert t.shape == (4, 3) and not t.is_contiguous()
    assert t.data_ptr == a[:, 1:4].ctypes.data
    np.testing.assert_array_equal(t.contiguous().numpy(), a[:, 1:4])
    view = t.numpy()  # a strided NumPy view of the same memory
    assert view.ctypes.data == t.data_ptr and view.strides == a[:, 1:4].strides
    np.testing.assert_array_equal(view, a[:, 1:4])
    np.testing.assert_array_equal(cudanet.tensor(a.T).numpy(), a.T)


def test_torch_round_trips_without_copies():
    x = torch.arange(10, dtype=torch.float32).reshape(2, 5)
    t = cudanet.from_dlpack(x)
    assert t.data_ptr == x.data_ptr() and t.shape == (2, 5)
    x[0, 0] = 42
    assert t.numpy()[0, 0] == 42
    y = torch.from_dlpack(t)
    assert y.data_ptr() == x.data_ptr()
    y[1, 4] = -3
    assert x[1, 4] == -3
    # Through a capsule, the protocol's older form.
    z = cudanet.from_dlpack(torch.utils.dlpack.to_dlpack(x))
    assert z.data_ptr == x.data_ptr()
    # cudanet -> torch -> cudanet lands on the same memory.
    u = cudanet.tensor(np.ones((3,), np.int64))
    assert cudanet.from_dlpack(torch.from_dlpack(u)).data_ptr == u.data_ptr


def test_dlpack_device_and_capsule_protocol():
    t = cudanet.tensor([1.0, 2.0])
    assert t.__dlpack_device__() == (1, 0)
    capsule = t.__dlpack__()
    u = cudanet.from_dlpack(capsule)
    assert u.data_ptr == t.data_ptr
    with pytest.raises(ValueError, match="capsule"):
        cudanet.from_dlpack(capsule)  # consumed: a capsule is used once
    del capsule
    t.__dlpack__()  # an unconsumed capsule frees its reference when it dies
    copied = cudanet.from_dlpack(t.__dlpack__(copy=True))
    assert copied.data_ptr != t.data_ptr and copied.numpy().tolist() == [1.0, 2.0]


def test_as_tensor_shares_when_it_can():
    a = np.ones((2, 2), np.float32)
    assert cudanet.as_tensor(a).data_ptr == a.ctypes.data
    t = cudanet.tensor(a)
    assert cudanet.as_tensor(t) is t
    ro = np.ones(3)
    ro.flags.writeable = False
    assert cudanet.as_tensor(ro).shape == (3,)
    assert cudanet.as_tensor([1.0, 2.0]).shape == (2,)
