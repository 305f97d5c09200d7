"""Independent float64 NumPy reference for a set of loss functions.

Every function is written straight from the textbook formula in its
docstring and is meant to be obviously correct rather than fast.  It is the
oracle a conformance harness compares framework implementations against.

Conventions shared by all losses
--------------------------------
* Signature: ``f(y_true, y_pred, sample_weight=None, *, reduction="mean", ...)``.
  Inputs are converted to float64 (integer labels to int64); the result is a
  float64 ``np.ndarray`` (0-d for "mean"/"sum").
* ``reduction``: "none" -> the unreduced array ``l`` (``w*l`` when a
  sample_weight is given); "sum" -> ``sum(w*l)``; "mean" ->
  ``sum(w*l) / count`` with ``count`` the number of entries of ``l`` (unless a
  loss says otherwise) and ``0.0`` when ``count == 0``.
* ``sample_weight``: None, a scalar, or an array whose shape is a prefix of
  ``l.shape`` (trailing size-1 axes are squeezed while it has more axes than
  ``l``); it is broadcast over the remaining trailing axes.
* Logs of probabilities are floored: ``max(log p, -100)``.  A term whose
  multiplier (target or weight) is exactly 0 is exactly 0, even next to an
  infinite log.  Logits go through stable log-sigmoid / log-softmax, with
  the mathematical limits for +-inf logits.

Public names: ``REFERENCE`` (dict name -> function), ``reference``, and the
loss functions themselves.
"""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np

__all__ = [
    "REFERENCE",
    "reference",
    "mean_squared_error",
    "mean_absolute_error",
    "huber",
    "smooth_l1",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "dice",
    "kl_divergence",
]

LOG_FLOOR = -100.0

REFERENCE: dict[str, Callable[..., np.ndarray]] = {}


def _register(name: str):
    """Add a loss to REFERENCE; run it with floating-point warnings silenced
    (inf/nan are legitimate outputs of the reference)."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with np.errstate(all="ignore"):
                return fn(*args, **kwargs)

        REFERENCE[name] = wrapped
        return wrapped

    return decorate


def reference(name, y_true, y_pred, sample_weight=None, **params):
    """Compute the reference loss ``name`` (a key of REFERENCE)."""
    return REFERENCE[name](y_true, y_pred, sample_weight, **params)


# --------------------------------------------------------------------------
# numeric helpers
# --------------------------------------------------------------------------


def _f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _floored_log(p):
    """max(log p, -100); log 0 = -inf is therefore -100."""
    return np.maximum(np.log(p), LOG_FLOOR)


def _log_sigmoid(x):
    """log(sigmoid(x)) = -log(1 + exp(-x)), evaluated stably.

    log_sigmoid(+inf) = 0, log_sigmoid(-inf) = -inf, finite for finite x.
    """
    return -np.logaddexp(0.0, -x)


def _log_softmax(x, axis):
    """log_softmax(x)_c = x_c - log(sum_k exp(x_k)) along ``axis``.

    Stable (max-shifted) for finite rows.  Infinite limits:
      * row max is +inf with k tied +inf entries: -log(k) there, -inf elsewhere;
      * row of all -inf: uniform, -log(C);
      * -inf entries in an otherwise finite row: -inf.
    """
    m = np.max(x, axis=axis, keepdims=True)
    shift = np.where(np.isfinite(m), m, 0.0)
    z = x - shift
    out = z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))

    at_pinf = np.isposinf(x)
    k = np.sum(at_pinf, axis=axis, keepdims=True)
    pinf_row = np.where(at_pinf, -np.log(np.maximum(k, 1)), -np.inf)
    out = np.where(np.isposinf(m), pinf_row, out)
    out = np.where(np.isneginf(m), -np.log(x.shape[axis]), out)
    return out


def _zero_safe_mul(mult, value):
    """mult * value, but exactly 0 wherever mult == 0 (even if value is inf)."""
    return np.where(mult == 0, 0.0, mult * value)


def _log_q(y_pred, from_logits, axis):
    """log of the predicted class probabilities along ``axis``."""
    return _log_softmax(y_pred, axis) if from_logits else _floored_log(y_pred)


def _along_axis(vec, ndim, axis):
    """Reshape a 1-D per-class vector so it broadcasts along ``axis``."""
    shape = [1] * ndim
    shape[axis] = -1
    return np.reshape(vec, shape)


def _align(y_true, y_pred):
    """Elementwise alignment: if the ranks differ by one and the higher-rank
    array has a trailing size-1 axis, drop/add that axis on y_true so that
    the result keeps y_pred's own shape ((B,) vs (B,1) is never (B,B))."""
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    elif y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        y_true = y_true[..., None]
    return y_true, y_pred


def _reduce(loss, sample_weight, reduction, count=None):
    """Apply sample_weight and the reduction (see module docstring).

    ``count`` is the mean's denominator; default: number of entries of loss.
    """
    if reduction not in ("none", "sum", "mean"):
        raise ValueError(f"unknown reduction {reduction!r}")
    if count is None:
        count = loss.size

    if sample_weight is not None:
        w = _f64(sample_weight)
        while w.ndim > loss.ndim and w.shape[-1] == 1:
            w = w[..., 0]
        w = np.reshape(w, w.shape + (1,) * (loss.ndim - w.ndim))
        loss = w * loss

    if reduction == "none":
        return _f64(loss)
    total = np.sum(loss)
    if reduction == "sum":
        return _f64(total)
    return _f64(total / count if count != 0 else 0.0)


# --------------------------------------------------------------------------
# regression losses (elementwise)
# --------------------------------------------------------------------------


@_register("mean_squared_error")
def mean_squared_error(y_true, y_pred, sample_weight=None, *, reduction="mean"):
    """l = (y_pred - y_true)^2, elementwise."""
    y, x = _align(_f64(y_true), _f64(y_pred))
    return _reduce((x - y) ** 2, sample_weight, reduction)


@_register("mean_absolute_error")
def mean_absolute_error(y_true, y_pred, sample_weight=None, *, reduction="mean"):
    """l = |y_pred - y_true|, elementwise."""
    y, x = _align(_f64(y_true), _f64(y_pred))
    return _reduce(np.abs(x - y), sample_weight, reduction)


@_register("huber")
def huber(y_true, y_pred, sample_weight=None, *, reduction="mean", delta=1.0):
    """e = y_pred - y_true;
    l = 0.5 e^2                    if |e| <= delta
        delta * (|e| - 0.5 delta)  otherwise.
    """
    y, x = _align(_f64(y_true), _f64(y_pred))
    a = np.abs(x - y)
    loss = np.where(a <= delta, 0.5 * a**2, delta * (a - 0.5 * delta))
    return _reduce(loss, sample_weight, reduction)


@_register("smooth_l1")
def smooth_l1(y_true, y_pred, sample_weight=None, *, reduction="mean", beta=1.0):
    """e = y_pred - y_true;
    l = 0.5 e^2 / beta   if |e| < beta
        |e| - 0.5 beta   otherwise;    beta = 0 gives l = |e|.
    """
    y, x = _align(_f64(y_true), _f64(y_pred))
    a = np.abs(x - y)
    if beta == 0:
        loss = a
    else:
        loss = np.where(a < beta, 0.5 * a**2 / beta, a - 0.5 * beta)
    return _reduce(loss, sample_weight, reduction)


# --------------------------------------------------------------------------
# cross-entropies
# --------------------------------------------------------------------------


@_register("binary_crossentropy")
def binary_crossentropy(
    y_true,
    y_pred,
    sample_weight=None,
    *,
    reduction="mean",
    from_logits=False,
    label_smoothing=0.0,
    pos_weight=None,
    neg_weight=None,
):
    """Elementwise binary cross-entropy.

    y = y_true (1 - eps) + eps/2,   eps = label_smoothing
    probabilities p:  l = -[w_pos y max(log p, -100) + w_neg (1-y) max(log(1-p), -100)]
    logits x:         l = -[w_pos y log_sigmoid(x)   + w_neg (1-y) log_sigmoid(-x)]
    w_pos / w_neg: scalars or 1-D arrays along the last axis (default 1).
    A term whose multiplier (w_pos y or w_neg (1-y)) is exactly 0 is 0.
    """
    y, x = _align(_f64(y_true), _f64(y_pred))
    eps = float(label_smoothing)
    y = y * (1.0 - eps) + 0.5 * eps
    w_pos = 1.0 if pos_weight is None else _f64(pos_weight)
    w_neg = 1.0 if neg_weight is None else _f64(neg_weight)

    if from_logits:
        log_p, log_not_p = _log_sigmoid(x), _log_sigmoid(-x)
    else:
        log_p, log_not_p = _floored_log(x), np.maximum(np.log1p(-x), LOG_FLOOR)  # (1 - p would round a tiny p)

    loss = -(_zero_safe_mul(w_pos * y, log_p) + _zero_safe_mul(w_neg * (1.0 - y), log_not_p))
    return _reduce(loss, sample_weight, reduction)


@_register("categorical_crossentropy")
def categorical_crossentropy(
    y_true,
    y_pred,
    sample_weight=None,
    *,
    reduction="mean",
    from_logits=False,
    label_smoothing=0.0,
    class_weight=None,
    axis=-1,
):
    """Cross-entropy against a (one-hot or soft) target distribution.

    y_c = y_true_c (1 - eps) + eps/K,   K = number of classes along ``axis``
    log q_c = max(log p_c, -100)  (probabilities, no renormalisation)
            = log_softmax(x)_c    (logits)
    l = -sum_c w_c y_c log q_c    (w_c = class_weight, else 1; terms with
                                   w_c y_c == 0 are 0)
    Unreduced shape: y_pred's shape without the class axis.
    """
    x = _f64(y_pred)
    axis = axis % x.ndim
    eps = float(label_smoothing)
    y = _f64(y_true) * (1.0 - eps) + eps / x.shape[axis]
    w = 1.0 if class_weight is None else _along_axis(_f64(class_weight), x.ndim, axis)

    loss = -np.sum(_zero_safe_mul(w * y, _log_q(x, from_logits, axis)), axis=axis)
    return _reduce(loss, sample_weight, reduction)


@_register("sparse_categorical_crossentropy")
def sparse_categorical_crossentropy(
    y_true,
    y_pred,
    sample_weight=None,
    *,
    reduction="mean",
    from_logits=False,
    ignore_index=None,
    label_smoothing=0.0,
    class_weight=None,
    axis=-1,
):
    """Cross-entropy against integer class labels t.

    log q as in categorical_crossentropy; w_c = class_weight (else 1);
    eps = label_smoothing; K classes:
        l = (1 - eps) w_t (-log q_t) + (eps/K) sum_c w_c (-log q_c)
    (zero-multiplier terms are 0).  Entries with t == ignore_index give
    l = 0 and are not counted.  Unreduced shape: the label shape.
    mean = sum(sample_weight * l) / D,   D = sum over non-ignored entries of w_t
    (0 if D == 0).
    """
    x = _f64(y_pred)
    axis = axis % x.ndim
    n_classes = x.shape[axis]

    labels = np.asarray(y_true)
    if labels.ndim == x.ndim:  # size-1 class axis present in the labels
        labels = np.squeeze(labels, axis=axis)
    labels = labels.astype(np.int64)
    keep = np.ones(labels.shape, bool) if ignore_index is None else labels != ignore_index
    safe = np.where(keep, labels, 0)

    cw = np.ones(n_classes) if class_weight is None else _f64(class_weight)
    w_t = cw[safe]
    log_q = _log_q(x, from_logits, axis)
    log_q_t = np.squeeze(np.take_along_axis(log_q, np.expand_dims(safe, axis), axis=axis), axis)

    eps = float(label_smoothing)
    smooth_w = (eps / n_classes) * _along_axis(cw, x.ndim, axis)
    loss = _zero_safe_mul((1.0 - eps) * w_t, -log_q_t) + np.sum(
        _zero_safe_mul(smooth_w, -log_q), axis=axis
    )
    loss = np.where(keep, loss, 0.0)
    denom = np.sum(np.where(keep, w_t, 0.0))
    return _reduce(loss, sample_weight, reduction, count=denom)


@_register("kl_divergence")
def kl_divergence(
    y_true, y_pred, sample_weight=None, *, reduction="mean", from_logits=False, axis=-1
):
    """Kullback-Leibler divergence KL(p || q) along ``axis``.

    p = y_true;  log q = max(log y_pred, -100)  or  log_softmax(y_pred) (logits)
    l = sum_c p_c (max(log p_c, -100) - log q_c),   terms with p_c == 0 are 0.
    Unreduced shape: y_pred's shape without the class axis.
    """
    x = _f64(y_pred)
    axis = axis % x.ndim
    p = _f64(y_true)
    terms = _zero_safe_mul(p, _floored_log(p) - _log_q(x, from_logits, axis))
    return _reduce(np.sum(terms, axis=axis), sample_weight, reduction)


# --------------------------------------------------------------------------
# Dice
# --------------------------------------------------------------------------


@_register("dice")
def dice(
    y_true,
    y_pred,
    sample_weight=None,
    *,
    reduction="mean",
    activation=None,
    smooth_nr=1e-5,
    smooth_dr=1e-5,
    squared=False,
    per_class=True,
    batch=False,
    include_background=True,
    ignore_index=None,
    axis=-1,
):
    """Soft Dice loss.  Axis 0 is the batch axis; ``axis`` the class axis
    (None: no class axis, a single class and no class dimension in the output).

    p = y_pred | sigmoid(y_pred) | softmax(y_pred, axis)     (activation)
    t = y_true (same shape as y_pred) or one-hot of integer labels
        (t_c = [label == c]); with labels, pixels labelled ignore_index are
        dropped from every sum. With one class, a y_true without the class
        axis is that class's mask, whatever its dtype.
    Per sample b and class c, summing over the spatial axes:
        I = sum p t,  P = sum p (or p^2 if squared),  T = sum t (or t^2)
    include_background=False drops class 0; per_class=False also sums I, P, T
    over classes; batch=True also sums them over the batch.
        l = 1 - (2 I + smooth_nr) / (P + T + smooth_dr)
    Unreduced shape: (B, C'), (B,) [per_class=False or axis=None],
    (C',) [batch], () [batch and (per_class=False or axis=None)].
    """
    x = _f64(y_pred)
    if axis is None:
        x = x[:, None]  # a class axis of size 1, at position 1
    else:
        axis = axis % x.ndim
        x = np.moveaxis(x, axis, 1)  # (B, C, *spatial)
    n_classes = x.shape[1]

    if activation is None:
        p = x
    elif activation == "sigmoid":
        p = 1.0 / (1.0 + np.exp(-x))
    elif activation == "softmax":
        p = np.exp(_log_softmax(x, 1))
    else:
        raise ValueError(f"unknown activation {activation!r}")

    yt = np.asarray(y_true)
    keep = True
    if axis is None:
        t = _f64(yt)[:, None]
    elif yt.shape == np.shape(y_pred):  # dense targets
        t = np.moveaxis(_f64(yt), axis, 1)
    elif n_classes == 1 and yt.ndim == np.ndim(y_pred) - 1:  # one class: its mask, whatever the dtype
        t = _f64(yt)[:, None]
    else:  # integer labels
        if yt.ndim == np.ndim(y_pred):  # size-1 class axis present
            yt = np.squeeze(yt, axis=axis)
        labels = yt.astype(np.int64)[:, None]  # (B, 1, *spatial)
        classes = np.arange(n_classes).reshape((1, -1) + (1,) * (labels.ndim - 2))
        t = (labels == classes).astype(np.float64)
        if ignore_index is not None:
            keep = labels != ignore_index
    p = np.where(keep, p, 0.0)
    t = np.where(keep, t, 0.0)

    spatial = tuple(range(2, p.ndim))
    inter = np.sum(p * t, axis=spatial)  # each (B, C)
    pred = np.sum(p**2 if squared else p, axis=spatial)
    true = np.sum(t**2 if squared else t, axis=spatial)

    if axis is not None and not include_background:
        inter, pred, true = inter[:, 1:], pred[:, 1:], true[:, 1:]
    if axis is None or not per_class:
        inter, pred, true = inter.sum(axis=1), pred.sum(axis=1), true.sum(axis=1)
    if batch:
        inter, pred, true = inter.sum(axis=0), pred.sum(axis=0), true.sum(axis=0)

    loss = 1.0 - (2.0 * inter + smooth_nr) / (pred + true + smooth_dr)
    return _reduce(loss, sample_weight, reduction)


# --------------------------------------------------------------------------
# self-test
# --------------------------------------------------------------------------

if __name__ == "__main__":

    def check(got, want, rtol=1e-12, atol=1e-12):
        got = np.asarray(got)
        assert got.dtype == np.float64, got.dtype
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)

    sigmoid = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731

    # ---- regression ----
    yt, yp = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 4.0])
    check(reference("mean_squared_error", yt, yp, reduction="none"), [1, 0, 4])
    check(reference("mean_squared_error", yt, yp), 5 / 3)
    check(reference("mean_squared_error", yt, yp, reduction="sum"), 5)
    check(reference("mean_absolute_error", yt, yp), 1.0)  # (1 + 0 + 2) / 3
    # sample weight: (1*1 + 2*0 + 3*4) / 3
    check(reference("mean_squared_error", yt, yp, np.array([1, 2, 3])), 13 / 3)
    # (B,) against (B,1): aligned, output keeps y_pred's shape (B,1)
    out = reference("mean_squared_error", yt, yp[:, None], reduction="none")
    assert out.shape == (3, 1)
    check(out[:, 0], [1, 0, 4])
    assert reference("mean_squared_error", yt[:, None], yp, reduction="none").shape == (3,)
    # int / bool inputs
    check(reference("mean_absolute_error", np.array([0, 1]), np.array([True, True])), 0.5)
    # zero-size batch -> mean 0
    check(reference("mean_squared_error", np.zeros(0), np.zeros(0)), 0.0)

    # huber, delta=1: e = [0.5, -2, 3] -> [0.125, 1.5, 2.5]
    yt, yp = np.zeros(3), np.array([0.5, -2.0, 3.0])
    check(reference("huber", yt, yp, reduction="none"), [0.125, 1.5, 2.5])
    # smooth_l1, beta=2: [0.5^2/4, 2 - 1, 3 - 1] = [0.0625, 1, 2]
    check(reference("smooth_l1", yt, yp, beta=2.0, reduction="none"), [0.0625, 1, 2])
    check(reference("smooth_l1", yt, yp, beta=0.0, reduction="none"), [0.5, 2, 3])
    rng = np.random.default_rng(0)
    e = rng.normal(scale=3, size=50)
    for d in (0.3, 1.0, 2.0, 2.5):
        check(
            reference("huber", np.zeros(50), e, delta=d, reduction="none"),
            d * reference("smooth_l1", np.zeros(50), e, beta=d, reduction="none"),
        )

    # ---- binary cross-entropy ----
    # y=[1,0], p=[0.8,0.4] -> [-ln 0.8, -ln 0.6] = [0.22314355, 0.51082562]
    bce = REFERENCE["binary_crossentropy"]
    check(bce(np.array([1, 0]), np.array([0.8, 0.4]), reduction="none"), [0.2231435513142097, 0.5108256237659907])
    # log floor: p = 0 with y = 1 -> 100
    check(bce(np.array([1.0]), np.array([0.0]), reduction="none"), [100.0])
    # logits vs probabilities, moderate x, with smoothing and pos/neg weights
    x = rng.normal(scale=3, size=(4, 3))
    y = rng.integers(0, 2, size=(4, 3)).astype(float)
    for kw in ({}, {"label_smoothing": 0.1}, {"pos_weight": np.array([1.0, 2.0, 0.5]), "neg_weight": 3.0}):
        check(bce(y, x, from_logits=True, **kw), bce(y, sigmoid(x), **kw))
    # torch pos_weight meaning: -[pw y log s(x) + (1-y) log(1-s(x))], y=1, x=0, pw=2 -> 2 ln 2
    check(bce(np.array([1.0]), np.array([0.0]), from_logits=True, pos_weight=2.0), 2 * np.log(2))
    # extreme logits
    xs = np.array([-np.inf, -np.inf, np.inf, np.inf, 1e8, -1e8, 1e4])
    ys = np.array([1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0])
    check(bce(ys, xs, from_logits=True, reduction="none"), [np.inf, 0, 0, np.inf, 1e8, 1e8, 0])

    # ---- categorical / sparse cross-entropy ----
    cce = REFERENCE["categorical_crossentropy"]
    scce = REFERENCE["sparse_categorical_crossentropy"]
    # y = [0,1,0], p = [0.2,0.7,0.1] -> -ln 0.7 = 0.35667494
    check(cce(np.array([[0, 1, 0]]), np.array([[0.2, 0.7, 0.1]])), 0.35667494393873245)
    check(scce(np.array([1]), np.array([[0.2, 0.7, 0.1]])), 0.35667494393873245)
    logits = rng.normal(scale=2, size=(5, 4))
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    labels = np.array([0, 3, 1, 1, 2])
    onehot = np.eye(4)[labels]
    cw = np.array([1.0, 2.0, 0.5, 3.0])
    for kw in ({}, {"label_smoothing": 0.2}):
        ref = cce(onehot, probs, **kw)
        check(cce(onehot, logits, from_logits=True, **kw), ref)
        check(scce(labels, logits, from_logits=True, **kw), ref)
        check(scce(labels[:, None], probs, **kw), ref)  # size-1 class axis in labels
        check(scce(labels.astype(np.float32), probs, **kw), ref)  # float labels
    # class axis first (axis=0) equals transposed data with axis=-1
    check(cce(onehot.T, logits.T, from_logits=True, axis=0, reduction="none"),
          cce(onehot, logits, from_logits=True, reduction="none"))
    check(scce(labels, logits.T, from_logits=True, axis=0), scce(labels, logits, from_logits=True))
    # class weights: no smoothing -> l_i = -w_t log q_t and mean = sum l / sum w_t
    li = -cw[labels] * np.log(probs[np.arange(5), labels])
    check(cce(onehot, probs, class_weight=cw, reduction="none"), li)
    check(scce(labels, probs, class_weight=cw), li.sum() / cw[labels].sum())
    # ignore_index: entries 1 and 3 ignored
    lab_ign = np.array([0, -100, 1, -100, 2])
    out = scce(lab_ign, probs, ignore_index=-100, class_weight=cw, reduction="none")
    check(out, np.where(lab_ign >= 0, li, 0.0))
    check(scce(lab_ign, probs, ignore_index=-100, class_weight=cw), (li[0] + li[2] + li[4]) / (1.0 + 2.0 + 0.5))
    check(scce(np.full(5, -100), probs, ignore_index=-100), 0.0)  # nothing counted
    # smoothing with class weights, by hand for one row: (1-e) w_t (-log q_t) + e/K sum w_c (-log q_c)
    e_ = 0.3
    want = (1 - e_) * cw[3] * -np.log(probs[1, 3]) + e_ / 4 * np.sum(cw * -np.log(probs[1]))
    check(scce(labels[1:2], probs[1:2], class_weight=cw, label_smoothing=e_, reduction="sum"), want)

    # ---- log_softmax limits ----
    inf = np.inf
    with np.errstate(all="ignore"):  # the helper is called outside a registered loss here
        check(_log_softmax(np.array([[inf, 0.0, -inf]]), -1), [[0, -inf, -inf]])
        check(_log_softmax(np.array([[inf, inf, 1.0]]), -1), [[-np.log(2), -np.log(2), -inf]])
        check(_log_softmax(np.array([[-inf, -inf, -inf]]), -1), [[-np.log(3)] * 3])
        check(_log_softmax(np.array([[1e8, -1e8, 0.0]]), -1), [[0, -2e8, -1e8]])
    check(cce(np.array([[0.0, 1.0, 0.0]]), np.array([[inf, 0.0, -inf]]), from_logits=True), inf)
    check(cce(np.array([[1.0, 0.0, 0.0]]), np.array([[inf, 0.0, -inf]]), from_logits=True), 0.0)

    # ---- KL divergence ----
    # p = [0.5,0.5], q = [0.25,0.75]: 0.5 ln 2 + 0.5 ln(2/3) = 0.14384104
    kl = REFERENCE["kl_divergence"]
    check(kl(np.array([0.5, 0.5]), np.array([0.25, 0.75])), 0.5 * np.log(2) + 0.5 * np.log(2 / 3))
    # p with a zero entry: 1 * (0 - ln 0.5) = ln 2 ; q = 0 under p = 0 is harmless
    check(kl(np.array([[1.0, 0.0]]), np.array([[0.5, 0.5]])), np.log(2))
    check(kl(np.array([[1.0, 0.0]]), np.array([[0.0, 0.0]]), from_logits=True), np.log(2))
    check(kl(np.array([[1.0, 0.0]]), np.array([[1.0, 0.0]]), reduction="none"), [0.0])
    pk = probs[::-1]
    check(kl(pk, logits, from_logits=True), kl(pk, probs))
    check(kl(pk, probs, reduction="sum"), np.sum(pk * (np.log(pk) - np.log(probs))))

    # ---- Dice, hand-computed on a (B=2, C=2, H=2, W=2) channels-first input ----
    #   labels b0 = [[0,1],[1,1]]   b1 = [[0,0],[0,1]]
    #   p[b0,c0] = [[.9,.2],[.1,.4]]  p[b0,c1] = [[.1,.8],[.9,.6]]
    #   p[b1,c0] = [[.7,.6],[.5,.3]]  p[b1,c1] = [[.3,.4],[.5,.7]]
    #   b0c0: I=0.9 P=1.6 T=1 -> 1 - 1.8/2.6 = 4/13
    #   b0c1: I=2.3 P=2.4 T=3 -> 1 - 4.6/5.4 = 4/27
    #   b1c0: I=1.8 P=2.1 T=3 -> 1 - 3.6/5.1 = 5/17
    #   b1c1: I=0.7 P=1.9 T=1 -> 1 - 1.4/2.9 = 15/29
    #   per_class=False: b0 I=3.2 P=4 T=4 -> 0.2 ; b1 I=2.5 P=4 T=4 -> 0.375
    #   batch=True: c0 I=2.7 P=3.7 T=4 -> 23/77 ; c1 I=3.0 P=4.3 T=4 -> 23/83
    #   batch=True, per_class=False: I=5.7 P=8 T=8 -> 0.2875
    #   squared, b0c0: P = .81+.04+.01+.16 = 1.02 -> 1 - 1.8/2.02 = 11/101
    #   ignore_index=255 at b0 pixel (0,0): b0c0 I=0 P=0.7 T=0 -> 1 ; b0c1 P=2.3 -> 1 - 4.6/5.3 = 7/53
    lab = np.array([[[0, 1], [1, 1]], [[0, 0], [0, 1]]])
    yt_cf = np.moveaxis(np.eye(2)[lab], -1, 1)  # (B, C, H, W) one-hot
    yp_cf = np.array(
        [
            [[[0.9, 0.2], [0.1, 0.4]], [[0.1, 0.8], [0.9, 0.6]]],
            [[[0.7, 0.6], [0.5, 0.3]], [[0.3, 0.4], [0.5, 0.7]]],
        ]
    )
    d = functools.partial(REFERENCE["dice"], axis=1, smooth_nr=0.0, smooth_dr=0.0)
    full = np.array([[4 / 13, 4 / 27], [5 / 17, 15 / 29]])
    check(d(yt_cf, yp_cf, reduction="none"), full)
    check(d(yt_cf, yp_cf), full.mean())
    check(d(lab, yp_cf, reduction="none"), full)  # integer labels
    check(d(lab[:, None], yp_cf, reduction="none"), full)  # labels with size-1 class axis
    check(d(yt_cf, yp_cf, per_class=False, reduction="none"), [0.2, 0.375])
    check(d(yt_cf, yp_cf, batch=True, reduction="none"), [23 / 77, 23 / 83])
    check(d(yt_cf, yp_cf, batch=True, per_class=False, reduction="none"), 0.2875)
    check(d(yt_cf, yp_cf, include_background=False, reduction="none"), [[4 / 27], [15 / 29]])
    check(d(yt_cf, yp_cf, squared=True, reduction="none")[0, 0], 11 / 101)
    check(d(yt_cf, yp_cf, sample_weight=np.array([1.0, 3.0])), (full[0].sum() + 3 * full[1].sum()) / 4)
    lab_ign = lab.copy()
    lab_ign[0, 0, 0] = 255
    check(d(lab_ign, yp_cf, ignore_index=255, reduction="none"), [[1.0, 7 / 53], full[1]])
    # channels-last equals channels-first
    yt_cl, yp_cl = np.moveaxis(yt_cf, 1, -1), np.moveaxis(yp_cf, 1, -1)
    check(d(yt_cl, yp_cl, axis=-1, reduction="none"), full)
    check(d(lab, yp_cl, axis=-1, reduction="none"), full)
    # default smoothing: b0c0 -> 1 - (1.8 + 1e-5) / (2.6 + 1e-5)
    check(REFERENCE["dice"](yt_cf, yp_cf, axis=1, reduction="none")[0, 0], 1 - 1.80001 / 2.60001)
    # axis=None: single class, output (B,); b0 = class-1 mask: I=2.3 P=2.4 T=3 -> 4/27
    check(d(yt_cf[:, 1], yp_cf[:, 1], axis=None, reduction="none"), [4 / 27, 15 / 29])
    check(d(yt_cf[:, 1], yp_cf[:, 1], axis=None, batch=True, reduction="none"), 1 - 6.0 / 8.3)
    # activations
    z = rng.normal(size=(2, 3, 4, 4))
    lab3 = rng.integers(0, 3, size=(2, 4, 4))
    soft = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    dd = functools.partial(REFERENCE["dice"], axis=1, reduction="none")
    check(dd(lab3, z, activation="softmax"), dd(lab3, soft))
    check(dd(lab3, z, activation="sigmoid"), dd(lab3, sigmoid(z)))
    check(dd(lab3, soft), dd(np.moveaxis(np.eye(3)[lab3], -1, 1), soft))

    print(f"reference.py self-test passed ({len(REFERENCE)} losses: {', '.join(REFERENCE)})")


def from_unreduced(unreduced):
    """A full reference (sample weights, reductions, (B,) vs (B, 1) alignment) from a float64
    function ``unreduced(y_true, y_pred, **params)`` that returns the per-element loss, or
    the pair (the per-element loss, the count its mean divides by) for a loss whose ``Terms``
    carry a count."""

    @functools.wraps(unreduced)
    def full(y_true, y_pred, sample_weight=None, *, reduction="mean", **params):
        with np.errstate(all="ignore"):
            y_true, y_pred = _align(_f64(y_true) if np.asarray(y_true).dtype.kind == "f" else np.asarray(y_true), _f64(y_pred))
            out = unreduced(y_true, y_pred, **params)
            values, count = out if isinstance(out, tuple) else (out, None)
            return _reduce(_f64(values), sample_weight, reduction, count)

    return full
