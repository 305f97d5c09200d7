"""The harness must be able to fail: a loss that is slightly wrong, NaN or mis-shaped is caught."""
import numpy as np
import pytest

import crossloss
from crossloss.conformance import cases, harness
from crossloss.conformance.reference import mean_squared_error
from crossloss.spec import LossSpec, Terms


def test_compare_flags_each_kind_of_disagreement():
    ref = np.array([1.0, np.inf, 0.5])
    assert harness.compare(ref.copy(), ref, "float32")[0]
    assert not harness.compare(np.array([1.0, np.inf, np.nan]), ref, "float32")[0]       # NaN where finite
    assert not harness.compare(np.array([1.0, -np.inf, 0.5]), ref, "float32")[0]         # wrong infinity
    assert not harness.compare(np.array([1.0 + 1e-4, np.inf, 0.5]), ref, "float32")[0]   # beyond rtol
    assert harness.compare(np.array([1.0 + 5e-6, np.inf, 0.5]), ref, "float32")[0]       # within rtol
    assert not harness.compare(np.array([1.0, np.inf]), ref, "float32")[0]               # shape


@pytest.fixture
def slightly_wrong_mse():
    def compute(c, y_true, y_pred):
        return Terms(c.ops.square(y_pred - y_true) * 1.0001)
    spec = crossloss.register(LossSpec("wrong_mse", compute, formula="(1.0001) e^2", none_shape="y_pred's shape",
                                       reference=mean_squared_error))
    yield spec
    crossloss.unregister(spec.name)


def test_a_wrong_loss_fails_the_harness(slightly_wrong_mse):
    results = harness.check_group(cases.random_cases("wrong_mse"), "numpy", "float64", ("mean",))
    assert results and not any(r.passed for r in results)
    assert "reference" in results[0].detail
