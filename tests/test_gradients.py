"""Gradients: torch against TensorFlow, torch against central differences of the float64
reference, native kernels against the generic formula, and finiteness at the edges."""
import numpy as np
import pytest

import crossloss
from crossloss.conformance import cases
from crossloss.conformance.harness import reference_for

from conftest import BACKENDS

pytestmark = pytest.mark.skipif(not {"torch", "tensorflow"} <= set(BACKENDS), reason="needs torch and tensorflow")
CASES = [c for loss in crossloss.list_losses() for c in cases.random_cases(loss)]
IDS = [c.name for c in CASES]


def torch_grad(case, reduction="mean", native=True, y_pred=None):
    import torch
    y_pred = torch.tensor(case.y_pred if y_pred is None else y_pred, dtype=torch.float64, requires_grad=True)
    with crossloss.options(native_kernels=native):
        value = crossloss.get(case.loss, reduction=reduction, **case.params)(
            torch.as_tensor(case.y_true), y_pred, sample_weight=case.sample_weight)
    value.sum().backward()
    return value.detach().numpy(), y_pred.grad.numpy()


def tf_grad(case, reduction="mean"):
    import tensorflow as tf
    y_pred = tf.constant(case.y_pred, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(y_pred)
        value = tf.reduce_sum(crossloss.get(case.loss, reduction=reduction, **case.params)(
            tf.constant(case.y_true), y_pred, sample_weight=case.sample_weight))
    return value.numpy(), tape.gradient(value, y_pred).numpy()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_torch_and_tensorflow_gradients_agree(case):
    for reduction in ("mean", "none"):
        _, g_torch = torch_grad(case, reduction)
        _, g_tf = tf_grad(case, reduction)
        np.testing.assert_allclose(g_torch, g_tf, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradient_matches_finite_differences_of_the_reference(case):
    _, grad = torch_grad(case)
    reference = reference_for(case.loss)
    step = 1e-6
    numeric = np.zeros_like(case.y_pred)
    for i in np.ndindex(case.y_pred.shape):
        up, down = case.y_pred.copy(), case.y_pred.copy()
        up[i] += step
        down[i] -= step
        f = [reference(case.y_true, x, case.sample_weight, **case.params) for x in (up, down)]
        numeric[i] = (f[0] - f[1]) / (2 * step)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("case", [c for c in CASES if c.loss in crossloss.backends.load("torch").NATIVE], ids=lambda c: c.name)
def test_native_kernel_gradient_equals_the_generic_formula(case):
    value_native, grad_native = torch_grad(case, "none", native=True)
    value_generic, grad_generic = torch_grad(case, "none", native=False)
    np.testing.assert_allclose(value_native, value_generic, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grad_native, grad_generic, rtol=1e-9, atol=1e-12)


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
@pytest.mark.parametrize("loss,params", [
    ("bce", {}), ("bce", {"label_smoothing": 0.1, "pos_weight": 2.0}), ("cce", {}), ("scce", {}), ("kld", {}),
    ("bce", {"from_logits": True}), ("cce", {"from_logits": True}), ("scce", {"from_logits": True}),
    ("kld", {"from_logits": True}), ("scce", {"from_logits": True, "label_smoothing": 0.2})])
def test_no_nan_gradient_at_saturated_inputs(backend, loss, params):
    """p exactly 0 and 1, logits +-inf: the floor / the limits have finite (often zero) slopes."""
    spec = crossloss.spec(loss)
    rng = np.random.default_rng(5)
    y_true, y_pred = cases.random_inputs(spec, params, rng, (4, 3))
    saturated = np.where(rng.uniform(size=y_pred.shape) < 0.5, 0.0, 1.0)
    if params.get("from_logits"):
        saturated = np.where(saturated == 1.0, np.inf, -np.inf)
    y_pred = saturated
    y_pred[:, 0] = 1.0 if params.get("from_logits") else 0.5  # keep every row a valid input
    case = cases.Case(spec.name, "saturated", params, y_true, y_pred)
    value, grad = (torch_grad if backend == "torch" else tf_grad)(case)
    assert not np.isnan(value) and not np.isnan(grad).any(), (value, grad)
