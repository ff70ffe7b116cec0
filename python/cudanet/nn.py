"""Layers with explicit forward and backward, and Sequential.

    net = nn.Sequential(("fc1", nn.Linear(784, 100)), ("act", nn.ReLU()), ("fc2", nn.Linear(100, 10)))
    y = net(x, train=True)          # keeps what backward needs
    dx = net.backward(dy)           # adds the parameter gradients
    net.state_dict()                # {"fc1.weight": numpy array, ...}

Parameters follow PyTorch's names and layouts (linear [out, in], conv [out, in/groups, kh, kw]).
Layers compute on their parameters' device (``net.to("cuda")``).
"""

from ._cudanet import (  # noqa: F401
    Layer, Parameter, Linear, Conv2d, ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, Flatten,
    MaxPool2d, AvgPool2d, LocalResponseNorm, BatchNorm2d, Dropout, Sequential, Loss,
    CrossEntropyLoss, MSELoss,
)

__all__ = [name for name in dir() if not name.startswith("_")]
