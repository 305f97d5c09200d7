import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

import crossloss

BACKENDS = crossloss.available_backends()


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param
