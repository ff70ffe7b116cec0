"""The model zoo: the seed's fully connected network, LeNet-5 and AlexNet (two layouts).

Parameters are initialised from cudanet's default generator (``cudanet.manual_seed``)."""

from . import _cudanet


def mlp(num_classes=10, hidden=(300, 100)):
    """784 -> hidden... -> num_classes, sigmoid units (the seed's network)."""
    return _cudanet.make_model("mlp", num_classes, list(hidden))


def lenet5(num_classes=10):
    """LeNet-5 for 1x28x28 images: 6@28x28, S2, 16@10x10, S4, C5 120, F6 84, outputs."""
    return _cudanet.make_model("lenet5", num_classes)


def alexnet(num_classes=1000, dropout=0.5):
    """AlexNet as in the seed's figure (3x227x227 input, LRN, 62,378,344 parameters)."""
    return _cudanet.make_model("alexnet", num_classes, [], dropout)


def alexnet_owt(num_classes=1000, dropout=0.5):
    """AlexNet "one weird trick" (torchvision's layout, 3x224x224 input)."""
    return _cudanet.make_model("alexnet-owt", num_classes, [], dropout)


def input_shape(name):
    """The shape of one sample of model ``name``, e.g. (1, 28, 28) for "lenet5"."""
    return _cudanet.model_input_shape(name)


summary = _cudanet.summary
names = _cudanet.model_names

__all__ = ["mlp", "lenet5", "alexnet", "alexnet_owt", "input_shape", "summary", "names"]
