"""The GPU side of the package: device moves, zero-copy DLPack exchange with PyTorch and CuPy on
the GPU, out-of-memory as MemoryError, training on the GPU. (The op tests in test_ops.py also run
on "cuda".) Skipped with the reason where no GPU can be used."""

import os

import numpy as np
import pytest

import cudanet
from oracle import torch

FASHION = cudanet.data.FASHION_MNIST_DIR

pytestmark = pytest.mark.gpu


def test_to_cuda_and_back(rng):
    a = rng.standard_normal((3, 5)).astype(np.float32)
    t = cudanet.tensor(a, device="cuda")
    assert t.device == "cuda:0" and t.__dlpack_device__() == (2, 0)
    np.testing.assert_array_equal(t.numpy(), a)  # a host copy
    np.testing.assert_array_equal(t.to("cpu").numpy(), a)
    assert t.cuda().data_ptr == t.data_ptr
    assert "device=cuda:0" in repr(t)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="PyTorch here has no CUDA")
def test_torch_cuda_round_trips_without_copies():
    x = torch.arange(12, dtype=torch.float32, device="cuda").reshape(3, 4)
    t = cudanet.from_dlpack(x)
    assert t.device == "cuda:0" and t.data_ptr == x.data_ptr()
    y = torch.from_dlpack(t)
    assert y.device.type == "cuda" and y.data_ptr() == x.data_ptr()
    r = cudanet.ops.relu(cudanet.from_dlpack(x - 5))
    np.testing.assert_array_equal(torch.from_dlpack(r).cpu().numpy(),
                                  torch.relu(x - 5).cpu().numpy())
    # Work queued by cudanet is visible to torch on torch's stream.
    z = cudanet.full((1 << 20,), 3.0, device="cuda")
    assert torch.from_dlpack(z).sum().item() == 3.0 * (1 << 20)


def test_cupy_round_trips_without_copies():
    cupy = pytest.importorskip("cupy")
    c = cupy.arange(6, dtype=cupy.float64)
    t = cudanet.from_dlpack(c)
    assert t.data_ptr == c.data.ptr
    assert cupy.from_dlpack(t).data.ptr == c.data.ptr


def test_gpu_out_of_memory_is_a_memory_error():
    with pytest.raises(MemoryError):
        cudanet.zeros((2**50,), device="cuda")
    cudanet.zeros((1024,), device="cuda")  # the allocator still works


def test_training_steps_on_the_gpu_match_the_cpu(rng):
    cudanet.manual_seed(4)
    cpu = cudanet.models.lenet5()
    gpu = cudanet.models.lenet5()
    gpu.load_state_dict(cpu.state_dict())
    gpu.to("cuda")
    x = rng.standard_normal((16, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, size=16)
    losses = []
    for model, device in [(cpu, "cpu"), (gpu, "cuda")]:
        opt = cudanet.optim.SGD(model, lr=0.05, momentum=0.9)
        loss = cudanet.nn.CrossEntropyLoss()
        losses.append([cudanet.train_step(model, loss, opt, cudanet.tensor(x, device=device),
                                           cudanet.tensor(y, device=device))[0]
                       for _ in range(3)])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-4)
    for k, v in cpu.state_dict().items():
        np.testing.assert_allclose(gpu.state_dict()[k], v, rtol=1e-3, atol=1e-5)


def test_dropout_masks_are_the_same_on_both_devices(rng):
    x = rng.standard_normal((3, 5, 7)).astype(np.float32)
    y_gpu, m_gpu = cudanet.ops.dropout(cudanet.tensor(x, device="cuda"), 0.4, seed=9, offset=2)
    y_cpu, m_cpu = cudanet.ops.dropout(cudanet.tensor(x), 0.4, seed=9, offset=2)
    np.testing.assert_array_equal(m_gpu.numpy(), m_cpu.numpy())
    np.testing.assert_array_equal(y_gpu.numpy(), y_cpu.numpy())


def test_fit_on_the_gpu_lowers_the_loss(rng):
    images = rng.standard_normal((256, 1, 28, 28)).astype(np.float32)
    labels = (images.reshape(256, -1).mean(axis=1) > 0).astype(np.int64)  # learnable
    ds = cudanet.data.Dataset(cudanet.tensor(images), cudanet.tensor(labels), 10)
    cudanet.manual_seed(2)
    model = cudanet.models.lenet5()
    h = cudanet.fit(model, ds, epochs=8, batch_size=32, device="cuda", out=None)
    assert np.mean(h["loss"][-8:]) < 0.7 * np.mean(h["loss"][:8])
    assert model.parameters()[0].value.device == "cuda:0"


@pytest.mark.skipif(not os.path.exists(os.path.join(FASHION, "train-images-idx3-ubyte.gz")),
                    reason=f"Fashion-MNIST not in {FASHION}")
def test_cuda_graph_training_matches_eager_training(capfd):
    # Two epochs of 4 full batches and a partial one, no validation between them: the second
    # epoch's capture frees the loader's tensors the partial batch used (train/train_step.h).
    def run(**extra):
        return cudanet.train(model="lenet5", epochs=2, train_limit=300, validation_size=0,
                             batch_size=64, device="cuda", seed=2, deterministic=True,
                             quiet=True, **extra)

    eager = run()
    graphed = run(cuda_graph=True)
    assert "CUDA graph: 2 captures" in capfd.readouterr().out
    for e, g in zip(eager["epochs"], graphed["epochs"]):
        assert g["train_loss"] == pytest.approx(e["train_loss"], rel=1e-5)
    assert graphed["test_accuracy"] == pytest.approx(eager["test_accuracy"], abs=1e-3)
