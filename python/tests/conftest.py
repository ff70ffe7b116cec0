"""Shared fixtures and markers of the cudanet Python tests.

Tests marked ``gpu`` need a CUDA build on a machine with a GPU; elsewhere they are skipped with
the reason cudanet gives (e.g. "built without CUDA" or the CUDA driver's message). PyTorch is the
oracle: Debian's python3-torch on the CPU, the GPU machine's PyTorch there.
"""

import numpy as np
import pytest

import cudanet


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a GPU (skipped with the reason otherwise)")


def pytest_collection_modifyitems(config, items):
    if cudanet.cuda_is_available():
        return
    reason = f"no GPU: {cudanet.cuda_unavailable_reason()}"
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def rng(request):
    """A NumPy generator seeded from the test's name, so failures reproduce."""
    seed = sum(ord(c) for c in request.node.nodeid) % (2**32)
    return np.random.default_rng(seed)
