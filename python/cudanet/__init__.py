"""cudanet: a CUDA-accelerated deep learning framework (C++17 / CUDA) for Python.

Tensors live on the CPU or a GPU (``device="cpu" | "cuda" | "cuda:N"``) and exchange memory with
NumPy, PyTorch and CuPy without copies through DLPack (``from_dlpack``, ``Tensor.__dlpack__``).
``cudanet.ops`` holds functional ops with explicit backward, ``cudanet.nn`` layers,
``cudanet.models`` the model zoo, ``cudanet.optim`` optimizers, ``cudanet.data`` data sets and
loaders, ``cudanet.fit`` a training loop. Errors raise ValueError (bad shapes and arguments),
MemoryError (out of memory), OSError (files) or RuntimeError (CUDA), with the C++ message.
"""

from . import _cudanet
from ._cudanet import Tensor, from_dlpack, manual_seed, zeros, full
from ._cudanet import set_deterministic, deterministic, set_allow_tf32, allow_tf32

__version__ = _cudanet.version()
with_cuda = _cudanet.with_cuda
with_cudnn = _cudanet.with_cudnn

_DTYPES = ("float32", "float64", "float16", "bfloat16", "int32", "int64", "uint8")


def cuda_is_available():
    """True when a GPU can be used (a CUDA build on a machine with a working GPU)."""
    return _cudanet.cuda_is_available()


def cuda_unavailable_reason():
    """Why no GPU can be used ("" when one can)."""
    return _cudanet.cuda_unavailable_reason()


def _np():
    import numpy

    return numpy


def _dtype_name(dtype):
    if dtype is None:
        return None
    if isinstance(dtype, str):
        name = dtype
    elif str(dtype).startswith("torch."):
        name = str(dtype)[len("torch."):]
    else:
        try:
            name = _np().dtype(dtype).name
        except TypeError:
            name = str(dtype)
    if name not in _DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r}; cudanet holds {', '.join(_DTYPES)}")
    return name


def tensor(data, device="cpu", dtype=None):
    """A new tensor holding a copy of ``data`` (a NumPy array, anything NumPy accepts, or a
    tensor) on ``device``. ``dtype`` defaults to the array's; Python floats become float32 and
    Python ints int64, as in PyTorch."""
    np = _np()
    name = _dtype_name(dtype)
    if isinstance(data, Tensor):
        out = (data if name is None else data.to_dtype(name)).to_device(device)
        return out.clone() if out.data_ptr == data.data_ptr else out
    if isinstance(data, np.ndarray):
        array = data
    else:
        array = np.asarray(data)
        if name is None and array.dtype == np.float64:
            array = array.astype(np.float32)
    if name is not None:
        array = array.astype(name if name != "bfloat16" else np.float32)
    if array.dtype.name not in _DTYPES:
        raise ValueError(f"unsupported dtype {array.dtype.name}; cudanet holds {', '.join(_DTYPES)}")
    if not array.flags.c_contiguous:
        array = array.copy(order="C")  # (np.ascontiguousarray would make 0-d arrays 1-d)
    view = from_dlpack(array)
    if name == "bfloat16":
        view = view.to_dtype("bfloat16")
    out = view.to_device(device)
    return out.clone() if out.data_ptr == view.data_ptr else out


def as_tensor(data, device=None):
    """``data`` as a tensor without copying when possible: a Tensor as is, anything with
    ``__dlpack__`` (NumPy, PyTorch, CuPy) through DLPack, other data through ``tensor()``.
    With ``device`` the result is moved there."""
    if isinstance(data, Tensor):
        t = data
    elif hasattr(data, "__dlpack__"):
        np = _np()
        if isinstance(data, np.ndarray) and (not data.flags.writeable or any(s < 0 for s in data.strides)):
            data = np.array(data)  # NumPy refuses to export read-only arrays
        t = from_dlpack(data)
    else:
        t = tensor(data)
    return t if device is None else t.to_device(device)


def _to(self, target):
    """A copy on a device ('cpu', 'cuda', 'cuda:N') or with a dtype ('float32', ...); the
    tensor itself when it is already there."""
    if str(target).startswith(("cpu", "cuda")):
        return self.to_device(str(target))
    return self.to_dtype(_dtype_name(target))


_numpy_view = Tensor.numpy


def _numpy(self):
    """The elements as a NumPy array: a view sharing memory for a CPU tensor (as PyTorch's
    ``Tensor.numpy()``), a host copy for a GPU tensor (bfloat16 becomes float32)."""
    t = self if self.device == "cpu" else self.to_device("cpu")
    if t.dtype == "bfloat16":
        t = t.to_dtype("float32")
    return _numpy_view(t)


def _array(self, dtype=None, copy=None):
    a = _numpy(self)
    return a if dtype is None else a.astype(dtype)


Tensor.to = _to
Tensor.numpy = _numpy
Tensor.__array__ = _array
Tensor.cpu = lambda self: self.to_device("cpu")
Tensor.cuda = lambda self, index=0: self.to_device(f"cuda:{index}")
Tensor.tolist = lambda self: _numpy(self).tolist()

from . import ops, nn, models, optim, data  # noqa: E402
from .fit import fit, evaluate, train, train_step, save_checkpoint, load_checkpoint  # noqa: E402

__all__ = [
    "Tensor", "tensor", "as_tensor", "from_dlpack", "zeros", "full", "manual_seed",
    "set_deterministic", "deterministic", "set_allow_tf32", "allow_tf32",
    "cuda_is_available", "cuda_unavailable_reason", "ops", "nn", "models", "optim", "data",
    "fit", "evaluate", "train", "train_step", "save_checkpoint", "load_checkpoint",
]
