"""Gradients: torch against TensorFlow, torch against central differences of the float64
reference, native kernels against the generic formula, and finiteness at the edges."""
import numpy as np
import pytest

import crossloss
from crossloss.conformance import cases, harness

from conftest import BACKENDS

pytestmark = pytest.mark.skipif(not {"torch", "tensorflow"} <= set(BACKENDS), reason="needs torch and tensorflow")


def torch_grad(case, reduction="mean", native=True, y_pred=None, dtype="float64"):
    import torch
    y_pred = torch.tensor(case.y_pred if y_pred is None else y_pred, dtype=getattr(torch, dtype), requires_grad=True)
    with crossloss.options(native_kernels=native):
        value = crossloss.get(case.loss, reduction=reduction, **case.params)(
            torch.as_tensor(case.y_true), y_pred, sample_weight=case.sample_weight)
    value.sum().backward()
    return value.detach().numpy(), y_pred.grad.numpy()


def tf_grad(case, reduction="mean", dtype="float64"):
    import tensorflow as tf
    y_pred = tf.constant(case.y_pred, dtype)
    with tf.GradientTape() as tape:
        tape.watch(y_pred)
        value = tf.reduce_sum(crossloss.get(case.loss, reduction=reduction, **case.params)(
            tf.constant(case.y_true), y_pred, sample_weight=case.sample_weight))
    return value.numpy(), tape.gradient(value, y_pred).numpy()


@pytest.mark.parametrize("loss", crossloss.list_losses())
def test_gradients_agree_with_finite_differences_the_other_backend_and_the_formula(loss):
    """The harness's gradient checks, random and edge cases: float64, central differences of
    the reference, torch against TensorFlow, fused kernels against the formula."""
    results = harness.gradient_checks(cases.all_cases(loss), ["torch", "tensorflow"])
    failed = [r for r in results if not r.passed]
    assert results and not failed, "\n".join(f"{r.case} [{r.backend}: {r.check}]: {r.detail}" for r in failed[:20])
    assert {"gradient vs finite differences", "gradient vs tensorflow"} <= {r.check for r in results}


@pytest.mark.parametrize("entry", harness.DIVERGENCES, ids=lambda e: e["check"] + ": " + e["case"])
def test_every_recorded_divergence_still_occurs(entry):
    """Each loss of an entry still fails that check somewhere: a stale entry would hide a future failure."""
    named = entry["loss"] if isinstance(entry["loss"], list) else [entry["loss"]]
    for loss in (["mean_squared_error", "kl_divergence"] if named == ["*"] else named):
        results = harness.run([loss], ["numpy", "torch", "tensorflow"], ["float64"], edges=True, traces=False)
        assert any(r.accepted == entry["reason"] for r in results), (loss, entry["check"])


@pytest.mark.parametrize("loss,params", [
    ("bce", {"from_logits": True}), ("bce", {"from_logits": True, "pos_weight": 3.0}),
    ("cce", {"from_logits": True}), ("scce", {"from_logits": True}), ("kld", {"from_logits": True}),
    ("scce", {"from_logits": True, "label_smoothing": 0.1}), ("dice", {"activation": "sigmoid"}),
    ("dice", {"activation": "softmax"})])
@pytest.mark.parametrize("big", [1e4, 1e8])
def test_gradients_stay_finite_at_huge_logits(loss, params, big):
    import torch
    spec = crossloss.spec(loss)
    rng = np.random.default_rng(3)
    y_true, y_pred = cases.random_inputs(spec, params, rng, (4, 3))
    y_pred = np.sign(rng.normal(size=y_pred.shape)) * big
    for dtype in (torch.float32, torch.float64):
        x = torch.tensor(y_pred, dtype=dtype, requires_grad=True)
        value = crossloss.get(loss, **params)(torch.as_tensor(y_true), x)
        value.backward()
        assert torch.isfinite(value) and torch.isfinite(x.grad).all(), (loss, dtype, value, x.grad)


@pytest.mark.parametrize("backend", ["torch", "tensorflow"])
def test_all_ignored_batch_has_zero_gradient(backend):
    logits = np.random.default_rng(0).normal(size=(3, 4))
    case = cases.Case("sparse_categorical_crossentropy", "all ignored",
                      {"from_logits": True, "ignore_index": -1, "class_weight": np.ones(4)}, np.full(3, -1), logits)
    value, grad = (torch_grad if backend == "torch" else tf_grad)(case)
    assert float(value) == 0.0 and np.all(grad == 0.0)


@pytest.mark.parametrize("backend", ["torch", "tensorflow"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss,params", [
    ("bce", {}), ("bce", {"label_smoothing": 0.1, "pos_weight": 2.0}), ("cce", {}), ("scce", {}), ("kld", {}),
    ("bce", {"from_logits": True}), ("cce", {"from_logits": True}), ("scce", {"from_logits": True}),
    ("kld", {"from_logits": True}), ("scce", {"from_logits": True, "label_smoothing": 0.2})])
def test_no_nan_gradient_at_saturated_inputs(backend, dtype, loss, params):
    """p exactly 0 and 1, logits +-inf: the floor / the limits have finite (often zero) slopes,
    in float32 too (where TensorFlow on CPU reads a float32 subnormal guard as 0)."""
    spec = crossloss.spec(loss)
    rng = np.random.default_rng(5)
    y_true, y_pred = cases.random_inputs(spec, params, rng, (4, 3))
    saturated = np.where(rng.uniform(size=y_pred.shape) < 0.5, 0.0, 1.0)
    if params.get("from_logits"):
        saturated = np.where(saturated == 1.0, np.inf, -np.inf)
    y_pred = saturated
    y_pred[:, 0] = 1.0 if params.get("from_logits") else 0.5  # keep every row a valid input
    case = cases.Case(spec.name, "saturated", params, y_true, y_pred)
    value, grad = (torch_grad if backend == "torch" else tf_grad)(case, dtype=dtype)
    assert not np.isnan(value) and not np.isnan(grad).any(), (value, grad)


@pytest.mark.parametrize("backend", ["torch", "tensorflow"])
@pytest.mark.parametrize("loss,param", [("huber", "delta"), ("smooth_l1", "beta")])
@pytest.mark.parametrize("width", [1e8, 1e39])  # 2^24 times the errors; beyond float32's range
def test_float32_quadratic_part_keeps_its_slope_under_a_wide_linear_threshold(backend, loss, param, width):
    """Errors far below delta (beta) are in the quadratic part: slope e (e / beta), value
    0.5 e^2 (/ beta). A form with delta - delta in its slope rounded e away in float32 (slope
    0), and a threshold past float32's range became inf (inf * 0: NaN)."""
    errors = np.array([0.5, -2.0, 3.0, 0.0], np.float32)
    case = cases.Case(loss, "wide threshold", {param: width}, np.zeros(4, np.float32), errors)
    # the formula (torch's own kernel is exact here; TensorFlow always runs the formula)
    value, slope = (torch_grad(case, "sum", native=False, dtype="float32") if backend == "torch"
                    else tf_grad(case, "sum", dtype="float32"))
    scale = 1.0 if loss == "huber" else width
    np.testing.assert_allclose(value, np.sum(0.5 * errors.astype(np.float64) ** 2 / scale), rtol=1e-6, atol=1e-37)
    np.testing.assert_allclose(slope, errors.astype(np.float64) / scale, rtol=1e-6, atol=1e-37)
