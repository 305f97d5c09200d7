"""The frameworks' own losses, called as their users call them, for the compatibility checks:
``crossloss.get(name, compat=profile)`` against ``keras.losses`` / ``torch.nn.functional``.

Cases come from the conformance catalogue, adapted to what the framework accepts (torch's
cross-entropies take logits, its kl_div log-probabilities; Keras's sparse kernel works on the
last axis). Infinite logits are left out: both frameworks give NaN there, crossloss the limits.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

import crossloss

from . import cases as catalogue

FRAMEWORK = {"torch": "torch", "keras": "tensorflow"}  # the backend each profile is checked on
_KERAS_REDUCTION = {"mean": "sum_over_batch_size", "sum": "sum", "none": None}


def keras_loss(loss: str, params: dict, reduction: str, dtype: str):
    import keras
    losses = keras.losses
    make = {
        "mean_squared_error": lambda: losses.MeanSquaredError,
        "mean_absolute_error": lambda: losses.MeanAbsoluteError,
        "huber": lambda: losses.Huber,
        "binary_crossentropy": lambda: losses.BinaryCrossentropy,
        "categorical_crossentropy": lambda: losses.CategoricalCrossentropy,
        "sparse_categorical_crossentropy": lambda: losses.SparseCategoricalCrossentropy,
        "kl_divergence": lambda: losses.KLDivergence,
        "dice": lambda: losses.Dice,
    }[loss]()
    renamed = {"ignore_index": "ignore_class", "axes": "axis"}
    kwargs = {renamed.get(k, k): v for k, v in params.items()}
    return make(reduction=_KERAS_REDUCTION[reduction], dtype=dtype, **kwargs)


def torch_loss(loss: str, params: dict, reduction: str):
    import torch
    import torch.nn.functional as F

    def tensor(value, like):
        return None if value is None else torch.as_tensor(value, dtype=like.dtype)

    def cross_entropy(y_true, y_pred):
        return F.cross_entropy(y_pred, y_true, weight=tensor(params.get("class_weight"), y_pred),
                               ignore_index=params.get("ignore_index", -100),
                               label_smoothing=params.get("label_smoothing", 0.0), reduction=reduction)

    def binary(y_true, y_pred):
        if params.get("from_logits"):
            return F.binary_cross_entropy_with_logits(y_pred, y_true, pos_weight=tensor(params.get("pos_weight"), y_pred),
                                                      reduction=reduction)
        return F.binary_cross_entropy(y_pred, y_true, reduction=reduction)

    return {
        "mean_squared_error": lambda t, p: F.mse_loss(p, t, reduction=reduction),
        "mean_absolute_error": lambda t, p: F.l1_loss(p, t, reduction=reduction),
        "huber": lambda t, p: F.huber_loss(p, t, reduction=reduction, delta=params.get("delta", 1.0)),
        "smooth_l1": lambda t, p: F.smooth_l1_loss(p, t, reduction=reduction, beta=params.get("beta", 1.0)),
        "binary_crossentropy": binary,
        "categorical_crossentropy": cross_entropy,
        "sparse_categorical_crossentropy": cross_entropy,
        "kl_divergence": lambda t, p: F.kl_div(p, t, reduction=reduction, log_target=params.get("log_target", False)),
    }[loss]


def _aligned(own, y_true, y_pred):
    """The framework's loss with y_true in y_pred's shape: (B,) against (B, 1) without torch's (B, B) broadcast."""
    return own(y_true.reshape(y_pred.shape), y_pred)


def _zero(own, y_true, y_pred):
    """0, Keras's divide_no_nan of an empty batch's sum by its size, for 'mean' and 'sum'."""
    return np.zeros(())


def _finite_logits(own, y_true, y_pred):
    """The framework's loss with -inf logits at -1e4, whose softmax is 0 all the same: a zero
    class weight then multiplies a finite log, not -inf (torch: 0 * -inf = NaN)."""
    return own(y_true, y_pred.nan_to_num(neginf=-1e4))


def _float64(own, y_true, y_pred):
    """The framework's loss in float64 on the same values, rounded to their dtype: torch's
    smooth_l1 forms e^2 / beta, which float32 overflows on beta's scale."""
    return own(y_true.double(), y_pred.double()).to(y_pred.dtype)


# What an accepted divergence's framework number stands for (divergences.json: "instead"):
# ``stand_in(own, y_true, y_pred)`` with ``own`` the framework's loss, on the compat check's inputs
STAND_INS = {"aligned": _aligned, "zero": _zero, "finite -inf logits": _finite_logits, "float64": _float64}


def profile_cases(profile: str, loss: str) -> list:
    """Catalogue cases in the form the framework takes, with the profile's parameter names."""
    spec = crossloss.get(loss, compat=profile).spec
    accepted = {p.name for p in spec.params}
    found = []
    for case in catalogue.all_cases(loss):
        if "+-inf" in case.label or case.sample_weight is not None:
            continue
        params = dict(case.params)
        if profile == "torch" and loss in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
            if not params.pop("from_logits", False) or params.get("axis", -1) % case.y_pred.ndim != 1:
                continue  # torch's cross_entropy takes logits, with the class axis at 1
            params["axis"] = 1
        if profile == "torch" and loss == "kl_divergence":
            if params:
                continue
            case = replace(case, y_pred=np.log(case.y_pred))  # kl_div takes log-probabilities
        if profile == "keras" and loss == "dice":
            if not params and case.y_true.shape == case.y_pred.shape:
                found += [replace(case, params={}), replace(case, params={"axes": tuple(range(1, case.y_pred.ndim))})]
            continue
        if not set(params) <= accepted or not _takes(profile, loss, params):
            continue
        found.append(replace(case, params=params))
    return found


def _takes(profile: str, loss: str, params: dict) -> bool:
    """The profile takes these values too (Keras's sparse CE: the class axis last only)."""
    try:
        crossloss.get(loss, compat=profile, **params)
    except (crossloss.LossValueError, crossloss.LossTypeError):
        return False
    return True
