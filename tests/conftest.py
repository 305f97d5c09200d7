import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

import crossloss
from crossloss.conformance.frameworks import DTYPES, to_backend, to_numpy  # noqa: F401

BACKENDS = crossloss.available_backends()


def framework(backend):
    """The imported framework module of a backend."""
    return crossloss.backends.load(backend).OPS and __import__(crossloss.backends.canonical(backend))


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
