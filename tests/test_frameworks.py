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


TORCH_CASES = [
    ("mse", {}, REGRESSION_TRUE, REGRESSION_PRED, lambda F, y, p: F.mse_loss(p, y)),
    ("mae", {}, REGRESSION_TRUE, REGRESSION_PRED, lambda F, y, p: F.l1_loss(p, y)),
    ("huber", {"delta": 0.7}, REGRESSION_TRUE, REGRESSION_PRED, lambda F, y, p: F.huber_loss(p, y, delta=0.7)),
    ("smooth_l1", {"beta": 0.6}, REGRESSION_TRUE, REGRESSION_PRED, lambda F, y, p: F.smooth_l1_loss(p, y, beta=0.6)),
    ("smooth_l1", {"beta": 0.0}, REGRESSION_TRUE, REGRESSION_PRED, lambda F, y, p: F.smooth_l1_loss(p, y, beta=0.0)),
    # torch clamps each log at -100 like the spec: exactly 0 and 1 included
    ("bce", {}, TARGET01, np.where(rng.uniform(size=(B, C)) < 0.3, TARGET01, PROBS),
     lambda F, y, p: F.binary_cross_entropy(p, y)),
    ("bce", {"from_logits": True, "pos_weight": WEIGHTS}, TARGET01, LOGITS,
     lambda F, y, p: F.binary_cross_entropy_with_logits(p, y, pos_weight=t(WEIGHTS))),
    ("scce", {"from_logits": True, "class_weight": WEIGHTS, "ignore_index": 2, "label_smoothing": 0.15}, LABELS, LOGITS,
     lambda F, y, p: F.cross_entropy(p, y, weight=t(WEIGHTS), ignore_index=2, label_smoothing=0.15)),
    ("scce", {"from_logits": True, "label_smoothing": 0.3}, LABELS, LOGITS,
     lambda F, y, p: F.cross_entropy(p, y, label_smoothing=0.3)),
    ("cce", {"from_logits": True, "class_weight": WEIGHTS, "label_smoothing": 0.1}, SOFT, LOGITS,
     lambda F, y, p: F.cross_entropy(p, y, weight=t(WEIGHTS), label_smoothing=0.1)),
    ("kld", {}, SOFT, DIST, lambda F, y, p: F.kl_div(p.log(), y, reduction="batchmean")),
    ("kld", {"from_logits": True}, SOFT, LOGITS, lambda F, y, p: F.kl_div(F.log_softmax(p, -1), y, reduction="batchmean")),
]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name,params,y_true,y_pred,native", TORCH_CASES, ids=[f"{c[0]}{c[1]}" for c in TORCH_CASES])
def test_equals_torch_functional(F, name, params, y_true, y_pred, native, reduction):
    import torch
    ours = crossloss.get(name, reduction=reduction, **params)(t(y_true), t(y_pred))
    theirs = native(F, t(y_true), t(y_pred))  # torch's 'mean'
    if reduction == "mean":
        torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    elif reduction == "none" and ours.shape == t(y_pred).shape:  # elementwise: torch's 'none' too
        torch.testing.assert_close(ours.mean(), theirs, rtol=1e-12, atol=1e-12)
    else:
        assert torch.isfinite(ours).all()


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
