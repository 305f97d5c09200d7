"""Every loss x backend x dtype x reduction x parameter set x case (random and edge catalogue)
against the independent float64 reference: the same checks `make report` prints."""
import numpy as np
import pytest

import crossloss
from crossloss.conformance import cases, harness
from crossloss.conformance.frameworks import to_backend, to_numpy

from conftest import BACKENDS

GROUPS = [(loss, label, dtype) for loss in crossloss.list_losses() for label, dtype in harness.value_groups(BACKENDS)]


@pytest.mark.parametrize("loss,backend,dtype", GROUPS)
def test_matches_reference(loss, backend, dtype):
    results = harness.check_group(cases.all_cases(loss), backend, dtype)
    failed = [r for r in results if not r.passed]
    assert results and not failed, "\n".join(
        f"{r.case} [{r.reduction}, {r.check}]: {r.detail}" for r in failed[:20])


def test_the_reference_bce_keeps_tiny_probabilities_precise():
    """-log(1 - p) = p + p^2/2 + ...: the reference took log(1 - p), which rounds 1 - 1e-20 to 1
    (0 for 1e-20; 2e-5 off at 1e-12), where the docs and torch take log1p(-p) (a helper's audit)."""
    from crossloss.conformance.reference import reference
    p = np.array([1e-20, 1e-12, 1e-9])
    np.testing.assert_allclose(reference("binary_crossentropy", np.zeros(3), p, reduction="none"), p + p * p / 2,
                               rtol=1e-15)


def test_every_loss_has_random_and_edge_cases():
    for loss in crossloss.list_losses():
        labels = {c.label for c in cases.all_cases(loss)}
        assert {"random", "random, sample_weight", "zero-size batch"} <= labels, loss
        assert any(label.startswith(("probabilities exactly", "logits", "values")) for label in labels), loss


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("params", [{}, {"squared": True}, {"smooth_nr": 0.0, "smooth_dr": 1e-3}, {"batch": True}])
@pytest.mark.parametrize("predicted", [1e-10, 1e-12, 1e-13])
def test_dice_near_zero_keeps_its_relative_precision(backend, params, predicted):
    """An empty mask and a nearly empty prediction: the loss is P / (P + smooth_dr) (plus
    smooth_dr - smooth_nr above), well conditioned, so float32 gets it to a few ulps. As
    1 - (2 I + smooth_nr) / (P + T + smooth_dr) it came out in multiples of float32's eps
    (1.19e-7 for 1e-7, 0 for 1e-8)."""
    p = np.zeros((2, 4, 3), np.float32)
    p[:, 0, :] = np.float32(predicted)
    out = crossloss.get("dice", reduction="none", **params)(to_backend(backend, np.zeros_like(p), "float32"),
                                                               to_backend(backend, p, "float32"))
    sums = (p.astype(np.float64) ** (2 if params.get("squared") else 1)).sum(axis=tuple(
        range(1 if not params.get("batch") else 0, 2)))  # over space (and batch): one per class
    smooth_nr, smooth_dr = params.get("smooth_nr", 1e-5), params.get("smooth_dr", 1e-5)
    exact = (sums + (smooth_dr - smooth_nr)) / (sums + smooth_dr)
    np.testing.assert_allclose(to_numpy(out), exact, rtol=4 * np.finfo(np.float32).eps)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("smooth_nr,smooth_dr", [(0.0, 1e-3), (1e-5, 1e-3), (1e-3, 1e-5)])
def test_dice_of_a_perfect_prediction_keeps_its_relative_precision(backend, smooth_nr, smooth_dr):
    """p = t: the loss is (smooth_dr - smooth_nr) / (2 T + smooth_dr), all of it smoothing.
    P + T - 2 I cancels exactly before the smoothing's difference is added; added to -2 I
    first, that difference lost float32's bits of 2 I (5e-4 of the loss at T = 3)."""
    labels = np.array([[0, 0, 1], [2, 0, 3]])
    t = np.eye(4, dtype=np.float32)[labels].transpose(0, 2, 1)  # (2, 4, 3): class 3 absent in sample 0
    out = crossloss.get("dice", axis=1, smooth_nr=smooth_nr, smooth_dr=smooth_dr, reduction="none")(
        to_backend(backend, t, "float32"), to_backend(backend, t.copy(), "float32"))
    exact = (smooth_dr - smooth_nr) / (2 * t.astype(np.float64).sum(axis=2) + smooth_dr)
    np.testing.assert_allclose(to_numpy(out), exact, rtol=4 * np.finfo(np.float32).eps)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype,beta", [("float32", 1e-40), ("float32", 1e-46), ("float64", 1e-310)])
def test_smooth_l1_with_a_beta_below_the_smallest_normal_number_is_l1(backend, dtype, beta):
    """Only subnormal errors would be quadratic there, and the loss is |e| to within beta / 2.
    TensorFlow's CPU kernels read a subnormal beta as 0 (0 / 0: NaN at every entry), and a
    beta of 1e-46 is 0 in float32 on every backend."""
    errors = np.array([0.0, 1e-3, 1.0, -2.0])
    out = crossloss.get("smooth_l1", beta=beta, reduction="none")(to_backend(backend, np.zeros(4), dtype),
                                                                  to_backend(backend, errors, dtype))
    np.testing.assert_allclose(to_numpy(out), np.abs(errors.astype(dtype)), rtol=0, atol=beta)


def test_smooth_l1_with_a_beta_beyond_float32_warns_of_nothing():
    """Comparing a Python float with NumPy's float32 finfo casts the float to float32:
    'overflow encountered in cast' for beta = 1e39, on every call."""
    import warnings
    loss = crossloss.get("smooth_l1", beta=1e39)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss(np.zeros(3, np.float32), np.ones(3, np.float32))
