"""Training from Python: data, loaders, fit (LeNet-5 on Fashion-MNIST for a few hundred steps
lowers the loss), evaluation, the whole trainer, and the GIL released while C++ works."""

import io
import os
import threading
import time

import numpy as np
import pytest

import cudanet
from cudanet import data, nn, optim

FASHION = data.FASHION_MNIST_DIR
needs_fashion = pytest.mark.skipif(
    not os.path.exists(os.path.join(FASHION, "train-images-idx3-ubyte.gz")),
    reason=f"Fashion-MNIST not in {FASHION} (Debian package dataset-fashion-mnist)")


def test_idx_round_trip(tmp_path, rng):
    a = rng.integers(0, 255, size=(4, 3, 2)).astype(np.uint8)
    for name in ["a.idx", "a.idx.gz"]:
        path = str(tmp_path / name)
        data.write_idx(path, cudanet.tensor(a))
        np.testing.assert_array_equal(data.read_idx(path).numpy(), a)


def test_loader_delivers_every_sample_once_per_epoch_in_a_new_order():
    images = cudanet.tensor(np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1))
    labels = cudanet.tensor(np.arange(10) % 3)
    ds = data.Dataset(images, labels, 3)
    assert len(ds) == 10 and ds.num_classes == 3 and ds.class_counts() == [4, 3, 3]
    loader = data.DataLoader(ds, batch_size=4, seed=2)
    assert len(loader) == 3
    orders = []
    for _ in range(2):
        seen = np.concatenate([x.numpy().ravel() for x, _ in loader])
        assert sorted(seen) == list(range(10))
        orders.append(list(seen))
    assert orders[0] != orders[1]
    train, val = data.split_train_validation(ds, 3, seed=1)
    assert len(train) == 7 and len(val) == 3


@needs_fashion
def test_fit_lenet5_on_fashion_mnist_lowers_the_loss():
    cudanet.manual_seed(1)
    full = data.fashion_mnist(train=True)
    assert len(full) == 60000 and full.images.shape == (60000, 1, 28, 28)
    train = full.narrow(0, 300 * 32)
    test = data.fashion_mnist(train=False).narrow(0, 1000)
    model = cudanet.models.lenet5()
    before_loss, before_acc = cudanet.evaluate(model, test)
    out = io.StringIO()
    history = cudanet.fit(model, train, epochs=1, batch_size=32,
                          optimizer=optim.SGD(model, lr=0.05, momentum=0.9),
                          validation_data=test, log_every=100, out=out)
    losses = history["loss"]
    assert len(losses) == 300
    first, last = np.mean(losses[:30]), np.mean(losses[-30:])
    assert last < 0.6 * first, (first, last)
    after_loss, after_acc = cudanet.evaluate(model, test)
    assert after_loss < before_loss and after_acc > max(before_acc, 0.6)
    assert history["epoch"][0]["val_accuracy"] == pytest.approx(after_acc)
    text = out.getvalue()
    assert "step 300: loss" in text and "validation loss" in text


def test_fit_stops_at_max_steps_and_on_request(rng):
    images = cudanet.tensor(rng.standard_normal((64, 1, 4, 4)).astype(np.float32))
    labels = cudanet.tensor(rng.integers(0, 2, size=64))
    ds = data.Dataset(images, labels, 2)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    h = cudanet.fit(net, ds, epochs=5, batch_size=8, max_steps=11, out=None)
    assert h["step"][-1] == 11 and len(h["epoch"]) == 2
    h = cudanet.fit(net, ds, epochs=5, batch_size=8, callback=lambda step, loss: step == 3,
                    out=None)
    assert h["step"] == [1, 2, 3]


@needs_fashion
def test_the_whole_trainer_runs_with_checkpoints(tmp_path, capfd):
    result = cudanet.train(model="lenet5", epochs=1, train_limit=512, validation_size=128,
                           batch_size=64, device="cpu", checkpoint_dir=str(tmp_path),
                           metrics_out=str(tmp_path / "metrics.json"))
    assert len(result["epochs"]) == 1 and 0 < result["test_accuracy"] <= 1
    assert (tmp_path / "last.safetensors").exists() and (tmp_path / "metrics.json").exists()
    assert "lenet5" in capfd.readouterr().out
    model = cudanet.models.lenet5()
    assert cudanet.load_checkpoint(str(tmp_path / "last.safetensors"), model)[1] == 1


@needs_fashion
def test_deterministic_training_is_bitwise_repeatable_and_resumes_exactly(tmp_path):
    # Two deterministic runs give identical weights; a run stopped after one epoch and resumed
    # ends where the uninterrupted run ends (train/trainer.h: deterministic, stop_after, resume).
    def run(name, **extra):
        d = tmp_path / name
        cudanet.train(model="lenet5", epochs=2, train_limit=256, validation_size=64,
                      batch_size=32, device="cpu", seed=3, deterministic=True, quiet=True,
                      checkpoint_dir=str(d), **extra)
        model = cudanet.models.lenet5()
        cudanet.load_checkpoint(str(d / "last.safetensors"), model)
        return model.state_dict()

    first, second = run("a"), run("b")
    run("c", stop_after=1)
    resumed = run("c", resume=True)
    assert set(first) == set(second) == set(resumed)
    for name in first:
        assert np.array_equal(first[name], second[name]), name
        assert np.array_equal(first[name], resumed[name]), name
    assert not cudanet.deterministic()  # the run's setting does not leak out


def test_cuda_graph_options_are_checked_before_training():
    # A graph replays SGD steps with nothing read on the host; the JPEG pipeline's options are
    # not for Fashion-MNIST. Each is a ValueError naming the option, before any data loads.
    for bad in ({"cuda_graph": True, "optimizer": "adam"},
                {"cuda_graph": True, "clip_grad_norm": 1.0},
                {"workers": 4},
                {"patience": 2, "validation_size": 0}):
        with pytest.raises(ValueError):
            cudanet.train(model="lenet5", epochs=1, quiet=True, **bad)


def test_process_wide_switches_round_trip():
    for on in (True, False):
        cudanet.set_deterministic(on)
        assert cudanet.deterministic() == on
        cudanet.set_allow_tf32(on)
        assert cudanet.allow_tf32() == on


def test_unknown_trainer_option_is_a_value_error():
    with pytest.raises(ValueError, match="unknown option 'detect_anomalies'"):
        cudanet.train(detect_anomalies=True)


def test_long_calls_release_the_gil(rng):
    # While one thread runs a big convolution, another keeps running Python code.
    x = cudanet.tensor(rng.standard_normal((16, 16, 64, 64)).astype(np.float32))
    w = cudanet.tensor(rng.standard_normal((32, 16, 5, 5)).astype(np.float32))
    ticks = []
    done = threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    ticker = threading.Thread(target=tick)
    ticker.start()
    time.sleep(0.01)
    # Calls until 0.2 s have passed (a fixed count was too short on a fast, idle machine).
    start = time.perf_counter()
    calls = 0
    while calls < 3 or time.perf_counter() - start < 0.2:
        cudanet.ops.conv2d(x, w, padding=2)
        calls += 1
    end = time.perf_counter()
    done.set()
    ticker.join()
    during = [t for t in ticks if start < t < end]
    # Holding the GIL during each call would leave the ticker about one tick between calls;
    # released, it ticks every millisecond or so (about 150 times in 0.2 s).
    assert len(during) >= max(10, 3 * calls), (end - start, calls, len(during))
