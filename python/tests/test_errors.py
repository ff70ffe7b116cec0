"""Every documented error path raises the documented Python exception with cudanet's message,
and the interpreter survives bad input."""

import numpy as np
import pytest

import cudanet
from cudanet import nn, ops


def t(shape, dtype="float32"):
    return cudanet.tensor(np.ones(shape, dtype=dtype))


@pytest.mark.parametrize("call,match", [
    (lambda: ops.conv2d(t((1, 3, 8, 8)), t((4, 2, 3, 3))), "conv2d"),            # channels
    (lambda: ops.conv2d(t((1, 3, 8, 8)), t((4, 3, 9, 9))), "conv2d"),            # kernel > input
    (lambda: ops.conv2d(t((3, 8, 8)), t((4, 3, 3, 3))), "conv2d"),               # not 4-D
    (lambda: ops.conv2d(t((1, 3, 8, 8)), t((4, 3, 3, 3)), t((5,))), "bias"),     # bias size
    (lambda: ops.conv2d_backward(t((1, 4, 5, 5)), t((1, 3, 8, 8)), t((4, 3, 3, 3))), "dy"),
    (lambda: ops.linear(t((2, 3)), t((4, 5))), "linear"),
    (lambda: ops.linear_backward(t((2, 5)), t((2, 3)), t((4, 3))), "dy"),
    (lambda: ops.linear_backward(t((2, 4)), t((2, 3)), t((4, 3)), t((3,))), "bias"),
    (lambda: ops.max_pool2d(t((1, 1, 4, 4)), 2, padding=2), "pad"),
    (lambda: ops.max_pool2d_backward(t((1, 1, 3, 3)), t((1, 1, 4, 4)), 2), "dy"),
    (lambda: ops.avg_pool2d_backward(t((1, 1, 3, 3)), t((1, 1, 4, 4)), 2), "dy"),
    (lambda: ops.relu_backward(t((2, 3)), t((3, 2))), "dy"),
    (lambda: ops.local_response_norm(t((1, 4, 2, 2)), size=0), "size"),
    (lambda: ops.softmax_cross_entropy(t((2, 3)), cudanet.tensor([0, 3])), "label"),
    (lambda: ops.softmax_cross_entropy(t((2, 3)), cudanet.tensor([0.0, 1.0])), "int64"),
    (lambda: ops.dropout(t((4,)), 1.0, seed=1), "p"),
    (lambda: ops.conv2d(t((1, 1, 4, 4)), t((1, 1, 3, 3)), stride=0), "stride"),
    (lambda: ops.conv2d(t((1, 1, 4, 4)), t((1, 1, 3, 3)), padding=(1, 2, 3)), "padding"),
    (lambda: ops.max_pool2d(t((1, 1, 4, 4)), "2"), "kernel_size"),
    (lambda: ops.relu(t((2,), "int32")), "float"),
    (lambda: cudanet.tensor(np.ones(2, dtype=np.int16)), "dtype"),
    (lambda: cudanet.tensor(np.ones(2), dtype="complex64"), "dtype"),
    (lambda: cudanet.from_dlpack(object()), "__dlpack__"),
    (lambda: cudanet.tensor([1.0]).to("gpu"), "dtype"),
    (lambda: cudanet.tensor([1.0]).to_device("tpu"), "device"),
    (lambda: cudanet.zeros((-1, 2)), "negative"),
    (lambda: cudanet.tensor([1.0, 2.0]).reshape(3), "reshape|view|elements"),
    (lambda: len(cudanet.tensor(1.0)), "0-dimensional"),
    (lambda: nn.Sequential(nn.ReLU()).add("0", nn.ReLU()), "duplicate"),
    (lambda: nn.Sequential(nn.ReLU()).add("a.b", nn.ReLU()), "name"),
    (lambda: (lambda s: s.add("me", s))(nn.Sequential()), "itself"),
    (lambda: nn.Linear(3, 2).forward(t((2, 4))), "Linear|shape"),
    (lambda: nn.ReLU().backward(t((2,))), "forward"),
    (lambda: nn.Linear(3, 2).load_state_dict({"weight": np.ones((2, 3))}), "missing bias"),
    (lambda: nn.Linear(3, 2).load_state_dict({"weight": np.ones((3, 2)), "bias": np.ones(2)}),
     "shape"),
    (lambda: nn.Linear(3, 2).load_state_dict(
        {"weight": np.ones((2, 3)), "bias": np.ones(2), "extra": np.ones(1)}), "unexpected"),
    (lambda: nn.Linear(3, 2).set_backend("magic"), "magic"),
    (lambda: cudanet.models.lenet5(num_classes=-1), "num_classes|classes"),
    (lambda: cudanet.models.input_shape("resnet"), "resnet"),
    (lambda: cudanet.data.DataLoader(cudanet.data.Dataset(t((2, 1, 2, 2)), cudanet.tensor([0, 1]), 2),
                                     batch_size=0), "batch size"),
    (lambda: cudanet.data.Dataset(t((2, 1, 2, 2)), cudanet.tensor([0, 5]), 2), "label"),
    (lambda: cudanet.train(model="nonet", quiet=True), "nonet"),
    (lambda: cudanet.train(colour="blue"), "colour"),
])
def test_bad_arguments_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_file_errors_raise_os_error(tmp_path):
    with pytest.raises(OSError, match="missing.idx"):
        cudanet.data.read_idx(str(tmp_path / "missing.idx"))
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"\x00\x00\x08")
    with pytest.raises(OSError, match="bad.idx"):
        cudanet.data.read_idx(str(bad))
    with pytest.raises(OSError, match="Fashion-MNIST"):
        cudanet.data.fashion_mnist(str(tmp_path))
    model = cudanet.models.lenet5()
    with pytest.raises(OSError):
        cudanet.load_checkpoint(str(tmp_path / "none.safetensors"), model)
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(OSError):
        cudanet.load_checkpoint(str(bad), model)
    with pytest.raises(OSError):
        cudanet.save_checkpoint(str(tmp_path / "no" / "such" / "dir" / "x.safetensors"), model)


def test_checkpoint_of_another_model_is_a_value_error(tmp_path):
    path = str(tmp_path / "mlp.safetensors")
    cudanet.save_checkpoint(path, cudanet.models.mlp(), model_name="mlp")
    with pytest.raises(ValueError):
        cudanet.load_checkpoint(path, cudanet.models.lenet5())
    with pytest.raises(ValueError, match="mlp"):
        cudanet.load_checkpoint(path, cudanet.models.mlp(), expected_model="lenet5")


def test_out_of_memory_is_a_memory_error():
    # 2^61 bytes: more than any machine has; the allocator reports it as out of memory.
    with pytest.raises(MemoryError):
        cudanet.zeros((2**58,), dtype="float64")


def test_cuda_without_a_gpu_is_a_runtime_error():
    if cudanet.cuda_is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="CUDA|cuda|GPU"):
        cudanet.tensor([1.0], device="cuda")


def test_wrong_argument_types_raise_type_error():
    with pytest.raises(TypeError):
        ops.relu(np.ones(3))
    with pytest.raises(TypeError):
        ops.conv2d(None, None)
