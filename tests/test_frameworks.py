"""crossloss against the frameworks' own losses where they mean the same thing
(torch.nn.functional and keras.losses), on inputs where their documented quirks do not apply."""
import numpy as np
import pytest

import crossloss

from conftest import BACKENDS

rng = np.random.default_rng(11)
B, C = 8, 5
TARGET01 = (rng.uniform(size=(B, C)) < 0.5).astype(np.float64)
PROBS = rng.uniform(0.02, 0.98, (B, C))
LOGITS = rng.normal(size=(B, C)) * 3
SOFT = np.exp(rng.normal(size=(B, C)))
SOFT /= SOFT.sum(-1, keepdims=True)
DIST = np.exp(LOGITS) / np.exp(LOGITS).sum(-1, keepdims=True)
LABELS = rng.integers(0, C, B)
WEIGHTS = np.array([0.5, 1.0, 2.0, 0.25, 1.5])
REGRESSION_TRUE, REGRESSION_PRED = rng.normal(size=(B, C)), rng.normal(size=(B, C)) * 2


@pytest.fixture(scope="module")
def F():
    if "torch" not in BACKENDS:
        pytest.skip("torch backend not installed")
    import torch.nn.functional
    return torch.nn.functional


def t(x):
    import torch
    return torch.as_tensor(x)


def _kl(F, log_q, y, reduction):
    """torch's kl_div in crossloss's reductions: its batchmean is the mean, and crossloss's
    unreduced KL is one value per distribution (summed over the class axis)."""
    if reduction == "none":
        return F.kl_div(log_q, y, reduction="none").sum(-1)
    return F.kl_div(log_q, y, reduction="batchmean" if reduction == "mean" else reduction)


TORCH_CASES = [
    ("mse", {}, REGRESSION_TRUE, REGRESSION_PRED, lambda F, y, p, r: F.mse_loss(p, y, reduction=r)),
    ("mae", {}, REGRESSION_TRUE, REGRESSION_PRED, lambda F, y, p, r: F.l1_loss(p, y, reduction=r)),
    ("huber", {"delta": 0.7}, REGRESSION_TRUE, REGRESSION_PRED,
     lambda F, y, p, r: F.huber_loss(p, y, delta=0.7, reduction=r)),
    ("smooth_l1", {"beta": 0.6}, REGRESSION_TRUE, REGRESSION_PRED,
     lambda F, y, p, r: F.smooth_l1_loss(p, y, beta=0.6, reduction=r)),
    ("smooth_l1", {"beta": 0.0}, REGRESSION_TRUE, REGRESSION_PRED,
     lambda F, y, p, r: F.smooth_l1_loss(p, y, beta=0.0, reduction=r)),
    # torch clamps each log at -100 like the spec: exactly 0 and 1 included
    ("bce", {}, TARGET01, np.where(rng.uniform(size=(B, C)) < 0.3, TARGET01, PROBS),
     lambda F, y, p, r: F.binary_cross_entropy(p, y, reduction=r)),
    ("bce", {"from_logits": True, "pos_weight": WEIGHTS}, TARGET01, LOGITS,
     lambda F, y, p, r: F.binary_cross_entropy_with_logits(p, y, pos_weight=t(WEIGHTS), reduction=r)),
    ("scce", {"from_logits": True, "class_weight": WEIGHTS, "ignore_index": 2, "label_smoothing": 0.15}, LABELS, LOGITS,
     lambda F, y, p, r: F.cross_entropy(p, y, weight=t(WEIGHTS), ignore_index=2, label_smoothing=0.15, reduction=r)),
    ("scce", {"from_logits": True, "label_smoothing": 0.3}, LABELS, LOGITS,
     lambda F, y, p, r: F.cross_entropy(p, y, label_smoothing=0.3, reduction=r)),
    ("cce", {"from_logits": True, "class_weight": WEIGHTS, "label_smoothing": 0.1}, SOFT, LOGITS,
     lambda F, y, p, r: F.cross_entropy(p, y, weight=t(WEIGHTS), label_smoothing=0.1, reduction=r)),
    ("kld", {}, SOFT, DIST, lambda F, y, p, r: _kl(F, p.log(), y, r)),
    ("kld", {"from_logits": True}, SOFT, LOGITS, lambda F, y, p, r: _kl(F, F.log_softmax(p, -1), y, r)),
]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name,params,y_true,y_pred,native", TORCH_CASES, ids=[f"{c[0]}{c[1]}" for c in TORCH_CASES])
def test_equals_torch_functional(F, name, params, y_true, y_pred, native, reduction):
    """Every reduction against torch's own (the test once compared only torch's mean, and
    asserted no more than finiteness for "sum")."""
    import torch
    ours = crossloss.get(name, reduction=reduction, **params)(t(y_true), t(y_pred))
    torch.testing.assert_close(ours, native(F, t(y_true), t(y_pred), reduction), rtol=1e-12, atol=1e-12)


def test_torch_multiclass_targets_on_channels_first_images(F):
    import torch
    logits = torch.as_tensor(rng.normal(size=(2, 4, 3, 5)))
    labels = torch.as_tensor(rng.integers(0, 4, (2, 3, 5)))
    ours = crossloss.get("scce", from_logits=True, axis=1)(labels, logits)
    torch.testing.assert_close(ours, F.cross_entropy(logits, labels), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("logit", [-46.0, -30.0, -5.0, 0.0, 5.0, 30.0])
@pytest.mark.parametrize("label", [0.0, 1.0])
def test_torch_bce_slope_on_probabilities_is_exact_near_0_and_1(F, logit, label):
    """torch's fused kernel differentiates as (p - y) / max(p (1 - p), 1e-12): within 1e-12
    of 0 or 1 its slope is wrong (-0.094 for -1 at sigmoid(-30)); such a gradient takes the
    formula. d/dx of BCE(y, sigmoid(x)) is sigmoid(x) - y."""
    import torch
    x = torch.tensor([logit], dtype=torch.float64, requires_grad=True)
    loss = crossloss.get("bce", reduction="sum")(torch.tensor([label], dtype=torch.float64), torch.sigmoid(x))
    loss.backward()
    expected = torch.sigmoid(torch.tensor([logit], dtype=torch.float64)) - label
    torch.testing.assert_close(x.grad, expected, rtol=1e-12, atol=0.0)
    # the value is the fused kernel's either way
    torch.testing.assert_close(loss.detach(), F.binary_cross_entropy(torch.sigmoid(x.detach()),
                                                                     torch.tensor([label], dtype=torch.float64),
                                                                     reduction="sum"), rtol=1e-12, atol=1e-300)


@pytest.fixture(scope="module")
def keras():
    if "tensorflow" not in BACKENDS:
        pytest.skip("tensorflow backend not installed")
    import keras
    return keras


# Keras first averages over the last axis and then over the batch; for 'mean' and equal rows
# that is crossloss's mean. Inputs avoid Keras's 1e-7 clipping (interior probabilities).
KERAS_CASES = [
    ("mse", {}, REGRESSION_TRUE, REGRESSION_PRED, lambda k: k.losses.MeanSquaredError(dtype="float64")),
    ("mae", {}, REGRESSION_TRUE, REGRESSION_PRED, lambda k: k.losses.MeanAbsoluteError(dtype="float64")),
    ("huber", {"delta": 2.0}, REGRESSION_TRUE, REGRESSION_PRED, lambda k: k.losses.Huber(delta=2.0, dtype="float64")),
    ("bce", {}, TARGET01, PROBS, lambda k: k.losses.BinaryCrossentropy(dtype="float64")),
    ("bce", {"label_smoothing": 0.2}, TARGET01, PROBS, lambda k: k.losses.BinaryCrossentropy(label_smoothing=0.2, dtype="float64")),
    ("bce", {"from_logits": True}, TARGET01, LOGITS, lambda k: k.losses.BinaryCrossentropy(from_logits=True, dtype="float64")),
    ("cce", {"label_smoothing": 0.1}, SOFT, DIST, lambda k: k.losses.CategoricalCrossentropy(label_smoothing=0.1, dtype="float64")),
    ("cce", {"from_logits": True}, SOFT, LOGITS, lambda k: k.losses.CategoricalCrossentropy(from_logits=True, dtype="float64")),
    ("scce", {}, LABELS, DIST, lambda k: k.losses.SparseCategoricalCrossentropy(dtype="float64")),
    ("scce", {"from_logits": True}, LABELS, LOGITS, lambda k: k.losses.SparseCategoricalCrossentropy(from_logits=True, dtype="float64")),
    ("kld", {}, SOFT, DIST, lambda k: k.losses.KLDivergence(dtype="float64")),
]


@pytest.mark.parametrize("name,params,y_true,y_pred,make", KERAS_CASES, ids=[f"{c[0]}{c[1]}" for c in KERAS_CASES])
def test_equals_keras_losses(keras, name, params, y_true, y_pred, make):
    import tensorflow as tf
    ours = crossloss.get(name, **params)(tf.constant(y_true), tf.constant(y_pred))
    theirs = make(keras)(tf.constant(y_true), tf.constant(y_pred))
    np.testing.assert_allclose(ours.numpy(), np.asarray(theirs), rtol=1e-6)
