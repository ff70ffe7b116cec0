"""Layers, Sequential, models, optimizers and state dicts, checked against PyTorch."""

import numpy as np
import pytest
import torch.nn.functional as F

import cudanet
from cudanet import nn, optim
from oracle import DEVICES, close, ours, random, theirs, torch


def load_into_torch(state):
    return {k: torch.from_numpy(v).requires_grad_(True) for k, v in state.items()}


@pytest.mark.parametrize("device", DEVICES)
def test_sequential_forward_backward_matches_torch(rng, device):
    cudanet.manual_seed(3)
    net = nn.Sequential(("conv", nn.Conv2d(2, 4, (3, 2), stride=1, padding=1)), ("act", nn.Tanh()),
                        ("pool", nn.MaxPool2d(2)), ("flat", nn.Flatten()),
                        ("fc", nn.Linear(4 * 3 * 4, 5))).to("float64").to(device)
    p = load_into_torch(net.state_dict())
    x = random(rng, (3, 2, 7, 8), "float64")
    y = net(ours(x, device), train=True)
    tx = theirs(x, "cpu", True)
    h = F.max_pool2d(torch.tanh(F.conv2d(tx, p["conv.weight"], p["conv.bias"], padding=1)), 2)
    ty = F.linear(h.flatten(1), p["fc.weight"], p["fc.bias"])
    close(y, ty, "float64")
    dy = random(rng, tuple(ty.shape), "float64")
    ty.backward(torch.from_numpy(dy))
    dx = net.backward(ours(dy, device))
    close(dx, tx.grad, "float64")
    grads = {f"{name}": par.grad for name, par in net.named_parameters()}
    for name in p:
        close(grads[name], p[name].grad, "float64")


def test_memory_plan_keeps_gradients_bitwise_and_saves_memory(rng):
    x = ours(random(rng, (2, 3, 8, 8), "float32"), "cpu")
    x_before = x.numpy().copy()

    def step(plan):
        cudanet.manual_seed(5)
        net = nn.Sequential(("conv", nn.Conv2d(3, 4, 3)), ("relu", nn.ReLU()),
                            ("lrn", nn.LocalResponseNorm(3)), ("pool", nn.MaxPool2d(2)),
                            ("conv2", nn.Conv2d(4, 4, 3, padding=1)), ("relu2", nn.ReLU()),
                            ("flat", nn.Flatten()), ("fc", nn.Linear(4 * 3 * 3, 5)))
        net.memory_plan = plan
        y = net(x, train=True)
        saved = net.saved_bytes()
        dx = net.backward(ours(np.ones((2, 5), dtype=np.float32), "cpu"))
        grads = {name: par.grad.numpy() for name, par in net.named_parameters()}
        return net, y.numpy(), dx.numpy(), grads, saved

    plain, planned = step(False), step(True)
    np.testing.assert_array_equal(x.numpy(), x_before)  # the caller's input is never overwritten
    assert plain[0].memory_plan is False and planned[0].memory_plan is True
    assert planned[0].inplace_plan("cpu") == ["relu", "relu2"]
    assert plain[0].inplace_plan() == []
    np.testing.assert_array_equal(planned[1], plain[1])
    np.testing.assert_array_equal(planned[2], plain[2])
    for name in plain[3]:
        np.testing.assert_array_equal(planned[3][name], plain[3][name])
    assert planned[4] < plain[4]
    assert planned[0].saved_bytes() == 0 and plain[0].saved_bytes() > 0


def test_layers_describe_themselves_and_list_parameters():
    conv = nn.Conv2d(3, 8, 5, stride=2, padding=2, groups=1, bias=False)
    assert "Conv2d(3, 8" in repr(conv) and conv.type == "Conv2d"
    assert [p.name for p in conv.parameters()] == ["weight"]
    assert conv.weight.value.shape == (8, 3, 5, 5) and conv.num_parameters() == 8 * 3 * 25
    assert conv.output_shape((2, 3, 32, 32)) == (2, 8, 16, 16)
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), ("out", nn.Linear(3, 2)))
    assert net.names() == ["0", "1", "out"] and len(net) == 3
    assert "(out): Linear(3, 2)" in repr(net)
    assert [n for n, _ in net.named_parameters()] == ["0.weight", "0.bias", "out.weight", "out.bias"]
    assert net[-1].type == "Linear" and net["1"].type == "ReLU"
    with pytest.raises(IndexError):
        net[3]
    for layer in [nn.LeakyReLU(0.2), nn.Sigmoid(), nn.Softmax(), nn.AvgPool2d(2, 1),
                  nn.LocalResponseNorm(3), nn.BatchNorm2d(4), nn.Dropout(0.2)]:
        assert layer.type in repr(layer)


def test_a_shared_layer_is_the_same_layer_in_python_and_in_the_network():
    fc = nn.Linear(2, 2)
    net = nn.Sequential(("fc", fc))
    fc.weight.value.fill_(0.5)
    assert (net.state_dict()["fc.weight"] == 0.5).all()
    del fc  # the network keeps it alive
    assert net["fc"].weight.value.shape == (2, 2)


def test_state_dict_round_trip_and_checkpoints(tmp_path):
    cudanet.manual_seed(1)
    a = cudanet.models.lenet5()
    cudanet.manual_seed(2)
    b = cudanet.models.lenet5()
    sa = a.state_dict()
    assert set(sa) == {"c1.weight", "c1.bias", "c3.weight", "c3.bias", "c5.weight", "c5.bias",
                       "f6.weight", "f6.bias", "output.weight", "output.bias"}
    assert sa["c1.weight"].shape == (6, 1, 5, 5) and sa["f6.weight"].shape == (84, 120)
    assert not np.array_equal(sa["c1.weight"], b.state_dict()["c1.weight"])
    sa["c1.weight"][0] = 0  # a copy: the model is unchanged
    assert a.state_dict()["c1.weight"][0].any()
    b.load_state_dict(a.state_dict())
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[k], v)
    # torch tensors load as well.
    b.load_state_dict({k: torch.zeros(v.shape) for k, v in sa.items()})
    assert not b.state_dict()["c5.weight"].any()

    opt = optim.SGD(a, lr=0.1, momentum=0.9)
    path = str(tmp_path / "a.safetensors")
    cudanet.save_checkpoint(path, a, opt, model_name="lenet5", epoch=3)
    c = cudanet.models.lenet5(num_classes=10)
    assert cudanet.load_checkpoint(path, c, expected_model="lenet5") == ("lenet5", 3)
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(c.state_dict()[k], v)


@pytest.mark.parametrize("name,make", [
    ("sgd", lambda m: optim.SGD(m, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("adam", lambda m: optim.Adam(m, lr=0.01, betas=(0.8, 0.99), weight_decay=0.01)),
    ("adamw", lambda m: optim.AdamW(m, lr=0.01, weight_decay=0.1)),
])
def test_optimizer_steps_match_torch(rng, name, make):
    cudanet.manual_seed(5)
    net = nn.Sequential(("fc", nn.Linear(6, 3))).to("float64")
    p = load_into_torch(net.state_dict())
    params = [p["fc.weight"], p["fc.bias"]]
    theirs_opt = {
        "sgd": lambda: torch.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True,
                                       weight_decay=0.01),
        "adam": lambda: torch.optim.Adam(params, lr=0.01, betas=(0.8, 0.99), weight_decay=0.01),
        "adamw": lambda: torch.optim.AdamW(params, lr=0.01, weight_decay=0.1),
    }[name]()
    ours_opt = make(net)
    assert ours_opt.type == name and ours_opt.lr > 0
    loss = nn.CrossEntropyLoss()
    for _ in range(3):
        x = random(rng, (4, 6), "float64")
        y = rng.integers(0, 3, size=4)
        ours_opt.zero_grad()
        out = net(ours(x, "cpu"), train=True)
        value = loss(out, ours(y, "cpu")).item()
        net.backward(loss.backward())
        ours_opt.step()
        theirs_opt.zero_grad()
        t_loss = F.cross_entropy(F.linear(torch.from_numpy(x), *params), torch.from_numpy(y))
        t_loss.backward()
        theirs_opt.step()
        assert abs(value - t_loss.item()) < 1e-10
    assert ours_opt.steps == 3
    close(net["fc"].weight.value, p["fc.weight"], "float64")
    close(net["fc"].bias.value, p["fc.bias"], "float64")


def test_models_have_the_documented_sizes():
    assert cudanet.models.lenet5().num_parameters() == 61706
    assert cudanet.models.input_shape("alexnet") == (3, 227, 227)
    assert set(cudanet.models.names()) == {"mlp", "lenet5", "alexnet", "alexnet-owt"}
    m = cudanet.models.mlp(hidden=(20,), num_classes=4)
    assert m.output_shape((5, 1, 28, 28)) == (5, 4)
    assert "total parameters" in cudanet.models.summary(m, (1, 28, 28))


def test_alexnet_has_the_seed_figures_parameter_count():
    assert cudanet.models.alexnet().num_parameters() == 62378344
