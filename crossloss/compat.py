"""Compatibility profiles: ``crossloss.get(name, compat="torch" | "keras")`` reproduces that
framework's own numbers, quirks included, for migrations. crossloss's default semantics are
documented in docs/semantics.md; what each profile changes, and why, in docs/compat.md.

torch (``torch.nn.functional``): logs clamped at -100 (as the default); cross-entropies take
logits only, class axis 1, ``ignore_index=-100``, class-weighted means and label smoothing
inside the weighted form (as the default); ``kl_div`` takes log-probabilities and its "mean"
divides by the element count, "batchmean" by the batch size; a mean over nothing is NaN; BCE
with logits and ``kl_div`` in torch's forms, whose rounding shows where their terms cancel.

keras (``keras.losses``, TensorFlow backend): ranks aligned as Keras aligns them (a trailing
axis of 1 squeezed, or added to a 1-D input); probabilities clipped to [1e-7, 1 - 1e-7];
categorical CE renormalises ``p / sum(p)`` first, sparse CE clips first and renormalises in log
space; the loss is first averaged over the last axis per sample, so "sum" adds per-sample means;
label smoothing uses the size of the last axis; KL clips both inputs to [1e-7, 1]; Dice sums over
``axes`` (None: everything) with 1e-7 in the denominator; BCE with logits in TensorFlow's form.
Infinite logits keep crossloss's limits in both profiles where the frameworks give NaN.
"""
from __future__ import annotations

import numbers
from dataclasses import replace

import numpy as np

from .contract import check_axes
from .errors import bad_type, bad_value, did_you_mean
from .losses import regression
from .registry import lookup as _builtin
from .spec import LOG_PROBABILITIES, PROBABILITIES, VALUES, LossSpec, Param, Terms, axis, boolean, integer_or_none

KERAS_EPSILON = 1e-7  # keras.backend.epsilon()


def _profile(name: str, base: LossSpec, compute=None, params=None, **changes) -> LossSpec:
    """A profile's spec of ``base``: its own formula and parameters, its name kept for configs
    (and the base's check of parameter combinations only with the base's parameters)."""
    changes.setdefault("check_params", base.check_params if params is None else None)
    if name == "keras":  # every keras.losses function aligns ranks its own way first
        changes.setdefault("same_rank", _keras_same_rank)
    return replace(base, name=f"{base.name}[{name}]", compute=compute or base.compute,
                   params=base.params if params is None else tuple(params), compat=name,
                   extra={**base.extra, "base": base.name}, **changes)


def _param(base: LossSpec, name: str, default=None) -> Param:
    found = next(p for p in base.params if p.name == name)
    return found if default is None else replace(found, default=default)


# ---- torch -------------------------------------------------------------------------------

def _torch_empty_is_nan(compute):
    def run(c, y_true, y_pred):
        return compute(c, y_true, y_pred)._replace(nan_if_empty=True)
    return run


def _torch_binary(base: LossSpec):
    compute = _torch_empty_is_nan(base.compute)

    def run(c, y_true, y_pred):
        if c.from_logits:  # torch's form on every backend, its cancellation included (docs/compat.md)
            return Terms(c.ops.bce_with_logits(y_true, y_pred, c.pos_weight, c.pred_range,
                                               form=c.ops.bce_with_logits_as_torch), nan_if_empty=True)
        c.neg_weight, c.label_smoothing = None, 0.0
        return compute(c, y_true, y_pred)
    return run


def _torch_binary_params(params):
    if params["pos_weight"] is not None and not params["from_logits"]:
        raise bad_value("binary_crossentropy", "pos_weight", "from_logits=True with compat='torch' "
                        "(torch's binary_cross_entropy has no pos_weight)", "from_logits=False")


def _torch_cross_entropy(base: LossSpec):
    compute = _torch_empty_is_nan(base.compute)

    def on_logits(c, y_true, y_pred):  # torch's cross_entropy takes logits only
        c.from_logits = True
        return compute(c, y_true, y_pred)
    return on_logits


def _torch_kl(c, y_true, log_q):
    """torch.nn.functional.kl_div(input=log q, target=p): elementwise p log p - p log q, in that
    form (it rounds otherwise than p (log p - log q), by up to 1e-3 relative in float32 where q is
    near p), with 0 for both terms at p = 0 (torch: 0 * -inf = NaN at log q = -inf)."""
    ops = c.ops
    if c.log_target:
        return Terms(ops.exp(y_true) * (y_true - log_q), nan_if_empty=True)
    return Terms(ops.xlogy(y_true, y_true) - ops.mul_no_nan(y_true, log_q), nan_if_empty=True)


def _torch_kl_targets(params) -> str:
    return LOG_PROBABILITIES if params["log_target"] else PROBABILITIES


def _torch_profiles() -> dict:
    specs = {}
    for name in ("mean_squared_error", "mean_absolute_error", "huber", "smooth_l1"):
        base = _builtin(name)
        specs[name] = _profile("torch", base, _torch_empty_is_nan(base.compute))
    bce = _builtin("binary_crossentropy")
    specs[bce.name] = _profile("torch", bce, _torch_binary(bce), check_params=_torch_binary_params,
                               params=(_param(bce, "from_logits"), _param(bce, "pos_weight")))
    cce = _builtin("categorical_crossentropy")
    specs[cce.name] = _profile("torch", cce, _torch_cross_entropy(cce), y_pred=VALUES,
                               params=(_param(cce, "class_weight"), _param(cce, "label_smoothing"), _param(cce, "axis", 1)))
    scce = _builtin("sparse_categorical_crossentropy")
    specs[scce.name] = _profile("torch", scce, _torch_cross_entropy(scce), y_pred=VALUES,
                                params=(_param(scce, "class_weight"), replace(_param(scce, "ignore_index"), default=-100),
                                        _param(scce, "label_smoothing"), _param(scce, "axis", 1)))
    kl = _builtin("kl_divergence")
    specs[kl.name] = _profile("torch", kl, _torch_kl, y_pred=LOG_PROBABILITIES, class_axis=False, y_true=_torch_kl_targets,
                              none_shape="y_pred's shape (torch's elementwise kl_div)",
                              reductions=("mean", "sum", "none", "batchmean"),
                              params=(Param("log_target", False, "y_true holds log-probabilities too", boolean),))
    return specs


# ---- keras -------------------------------------------------------------------------------

def _keras_same_rank(true_shape, pred_shape) -> str:
    """Whose shape both inputs take where one has a trailing axis of 1 more: Keras squeezes
    that axis away, unless the other input is 1-D and is expanded instead
    (``squeeze_or_expand_to_same_rank``)."""
    shorter = min(len(true_shape), len(pred_shape))
    return "y_pred" if len(pred_shape) == (2 if shorter == 1 else shorter) else "y_true"


def _per_sample(ops, values, last_axis=-1):
    """Keras averages each loss over the last axis first: one value per sample."""
    return ops.mean(values, axis=last_axis) if len(ops.shape(values)) else values


def _keras_regression(elementwise):
    def run(c, y_true, y_pred):
        return Terms(_per_sample(c.ops, elementwise(c, y_true, y_pred).scaled(c.ops).values))
    return run


def _keras_clipped(c, p):
    return c.ops.clip(p, KERAS_EPSILON, 1.0 - KERAS_EPSILON)


def _keras_binary(c, y_true, y_pred):
    ops = c.ops
    y = y_true * (1.0 - c.label_smoothing) + 0.5 * c.label_smoothing if c.label_smoothing else y_true
    if c.from_logits:  # TensorFlow's form on every backend (torch's fused kernel's cancels)
        elementwise = ops.bce_with_logits(y, y_pred, form=ops.bce_with_logits_exact)
    else:
        p = _keras_clipped(c, y_pred)
        elementwise = -(y * ops.log(p) + (1.0 - y) * ops.log(1.0 - p))
    if not len(ops.shape(elementwise)):
        return Terms(elementwise)
    check_axes(c.loss, "axis", c.axis_param, ops.static_shape(y_pred))
    return Terms(ops.mean(elementwise, axis=c.axis_param))


def _keras_categorical(c, y_true, y_pred):
    ops = c.ops
    y = y_true
    if c.label_smoothing:  # Keras divides by the size of the last axis, whatever the class axis
        y = y * (1.0 - c.label_smoothing) + c.label_smoothing / ops.shape(y_pred)[-1]
    if c.from_logits:
        return Terms(-ops.weighted_log_softmax_sum(y, y_pred, c.axis))
    p = _keras_clipped(c, y_pred / ops.sum(y_pred, axis=c.axis, keepdims=True))
    return Terms(-ops.sum(y * ops.log(p), axis=c.axis))


def _keras_sparse(c, labels, y_pred):
    ops = c.ops
    ignored = None if c.ignore_index is None else labels == c.ignore_index
    if ignored is not None:
        labels = ops.where(ignored, 0, labels)
    # TensorFlow's backend clips, logs, and lets the softmax renormalise in log space
    log_q = y_pred if c.from_logits else ops.log(_keras_clipped(c, y_pred))
    index = c.label_index(labels, y_pred)
    loss = -ops.reshape(ops.log_softmax_at(log_q, index, c.axis), ops.shape(labels))
    if ignored is None:
        return Terms(loss)
    kept = 1.0 - ops.cast(ignored, c.dtype)
    return Terms(ops.where(ignored, 0.0, loss), count=ops.sum(kept), counted=kept)


def _keras_kl(c, y_true, y_pred):
    ops = c.ops
    p, q = ops.clip(y_true, KERAS_EPSILON, 1.0), ops.clip(y_pred, KERAS_EPSILON, 1.0)
    return Terms(ops.sum(p * ops.log(p / q), axis=-1))


def _keras_dice(c, y_true, y_pred):
    ops = c.ops
    over = c.axes
    if over is not None:
        check_axes(c.loss, "axes", over, ops.static_shape(y_pred))
    intersection = ops.sum(y_true * y_pred, axis=over)
    union = ops.sum(y_true, axis=over) + ops.sum(y_pred, axis=over)
    return Terms(1.0 - 2.0 * intersection / (union + KERAS_EPSILON), weighted_by_sample=over is not None)


def _axes(value):
    """None, an axis or a non-empty tuple (list, 1-D array) of axes: integers, NumPy's too."""
    if value is None:
        return None
    expected = "None, an axis or a tuple of axes"
    try:
        values = (value,) if isinstance(value, numbers.Integral) else tuple(value)
    except TypeError:  # not iterable: 1.5, a 0-d array of floats
        raise TypeError(expected) from None
    if not all(isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) for v in values):
        raise TypeError(expected)
    if not values:
        raise ValueError(expected)
    return tuple(map(int, values))


def _keras_profiles() -> dict:
    specs = {}
    for name, elementwise in (("mean_squared_error", regression._mse), ("mean_absolute_error", regression._mae),
                              ("huber", regression._huber)):
        base = _builtin(name)
        specs[name] = _profile("keras", base, _keras_regression(elementwise),
                               none_shape="one value per sample (the mean over the last axis)")
    bce = _builtin("binary_crossentropy")
    specs[bce.name] = _profile("keras", bce, _keras_binary, checks_read_values=False,
                               none_shape="one value per sample (the mean over `axis`)",
                               params=(_param(bce, "from_logits"), _param(bce, "label_smoothing"),
                                       Param("axis", -1, "the axis averaged per sample", axis)))
    cce = _builtin("categorical_crossentropy")
    specs[cce.name] = _profile("keras", cce, _keras_categorical,
                               params=(_param(cce, "from_logits"), _param(cce, "label_smoothing"), _param(cce, "axis")))
    scce = _builtin("sparse_categorical_crossentropy")
    specs[scce.name] = _profile("keras", scce, _keras_sparse, checks_read_values=False,
                                params=(_param(scce, "from_logits"),
                                        Param("ignore_index", None, "Keras's ignore_class", integer_or_none),
                                        Param("axis", -1, "the class axis (TensorFlow's kernel: the last)", _last_axis)))
    kl = _builtin("kl_divergence")
    specs[kl.name] = _profile("keras", kl, _keras_kl, params=(), class_axis=False, y_pred=PROBABILITIES,
                              none_shape="one value per sample (the sum over the last axis)")
    base = _builtin("dice")
    specs[base.name] = _profile("keras", base, _keras_dice, y_true=PROBABILITIES, y_pred=PROBABILITIES, class_axis=False,
                                none_shape="the sums' shape: () with axes=None, else y_pred without `axes`",
                                params=(Param("axes", None, "the axes summed over (None: all, one value for the batch)",
                                              _axes),))
    return specs


def _last_axis(value):
    if axis(value) != -1:
        raise ValueError("-1 (TensorFlow's sparse kernel works on the last axis)")
    return -1


_PROFILES: dict[str, dict] = {}


def lookup(profile: str, name: str) -> LossSpec:
    """The spec of loss ``name`` in ``profile``; a clear error where the framework has none."""
    if not _PROFILES:
        _PROFILES.update(torch=_torch_profiles(), keras=_keras_profiles())
    if not isinstance(profile, str):
        raise bad_type(name, "compat", "None, 'torch' or 'keras'", repr(profile))
    profile = profile.strip().lower()  # in any case, as loss and backend names
    if profile not in _PROFILES:
        raise bad_value(name, "compat", "None, 'torch' or 'keras'", repr(profile) + did_you_mean(profile, _PROFILES))
    spec = _PROFILES[profile].get(name)
    if spec is None:
        have = ", ".join(sorted(_PROFILES[profile]))
        raise bad_value(name, "compat", f"a profile with a counterpart of {name} ({profile} has: {have})", repr(profile))
    return spec


def profiles() -> dict:
    """{profile: [loss names with a counterpart]}."""
    lookup("torch", "huber")
    return {p: sorted(specs) for p, specs in _PROFILES.items()}
