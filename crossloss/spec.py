"""How a loss is described once: its parameters, input contract, formula and math.

A ``LossSpec`` is data plus one function, ``compute(call, y_true, y_pred) -> Terms``, written
against the op table ``call.ops``. Everything around the math (argument checks, dispatch,
dtype promotion, shape and value checks, sample weights, reduction) lives in ``crossloss.core``.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import numpy as np

from .errors import did_you_mean

# Every log of a probability is floored here (torch's BCE clamp): exp(-100) ~ 3.7e-44 is
# below the smallest normal float32, so the floor only changes p = 0 (and float32 subnormals).
LOG_FLOOR = -100.0

# Input kinds of y_true / y_pred, checked by crossloss.core.
VALUES = "values"                # any real number
LOGITS = "logits"                # any real number, read where free: finite ones take a faster exact path
PROBABILITIES = "probabilities"  # each value in [0, 1]
LOG_PROBABILITIES = "log-probabilities"  # each value <= 0 (-inf included)
LABELS = "labels"                # integer class indices in [0, C), or ignore_index
DENSE_OR_LABELS = "dense or labels"  # y_pred's shape (values in [0, 1]) or integer labels


@dataclass(frozen=True)
class Param:
    """A loss parameter. ``check(value) -> value`` normalises, or raises ``TypeError(expected)``
    for a value of the wrong type and ``ValueError(expected)`` for a wrong value."""

    name: str
    default: Any
    doc: str
    check: Callable[[Any], Any] | None = None
    per_class: bool = False  # an array laid along the class axis: converted to the inputs' framework
    one_for_all: bool = False  # a per-class array of one entry weighs every class (as torch broadcasts pos_weight)
    in_dtype: bool = False  # a number that must be finite in the compute dtype (checked per input signature)


class Terms(NamedTuple):  # a tuple: built on every call, ~3x cheaper than a frozen dataclass
    """What a loss's math returns: unreduced values and the count its mean divides by.

    ``count`` is None for "number of entries of ``values``" (without the ``along`` axis),
    else a tensor (e.g. the number of non-ignored labels, or the sum of their class weights),
    and then ``counted`` holds what each entry adds to it (``values``' shape: 0 for an ignored
    label, its class weight), so that a mask can take entries out of the count too (Keras).
    Ignored entries of ``values`` are 0.
    """

    values: Any
    count: Any = None
    weighted_by_sample: bool = True  # False: entries are not per sample, sample_weight is refused
    nan_if_empty: bool = False  # a mean over nothing is NaN (torch's), not 0 (compat profiles)
    # The loss is scale * values: a sign (-log q) is applied to the reduced scalar, not to
    # every entry, which saves a pass. ``scaled(ops)`` gives the loss's own values.
    scale: float = 1.0
    # An axis that ``values`` still hold: the loss is their sum over it. A mean or sum of
    # everything then skips the per-entry sums (one reduction instead of two).
    along: int | None = None
    counted: Any = None

    def scaled(self, ops) -> "Terms":
        values = self.values if self.along is None else ops.sum(self.values, axis=self.along)
        if self.scale != 1.0:
            values = -values if self.scale == -1.0 else values * self.scale
        return Terms(values, self.count, self.weighted_by_sample, self.nan_if_empty, counted=self.counted)


@dataclass(frozen=True)
class LossSpec:
    """A loss, specified once for every backend.

    y_true / y_pred kinds: ``VALUES``, ``LOGITS``, ``PROBABILITIES``, ``LOG_PROBABILITIES``, ``LABELS``,
    ``DENSE_OR_LABELS``;
    ``y_pred`` may be a function of the bound parameters (e.g. logits when ``from_logits``).
    ``class_axis``: the loss has a class axis given by its ``axis`` parameter.
    """

    name: str
    compute: Callable[..., Terms]
    formula: str
    none_shape: str
    params: tuple[Param, ...] = ()
    aliases: tuple[str, ...] = ()
    y_true: str | Callable[[dict], str] = VALUES  # a function only for kinds without labels (not LABELS, DENSE_OR_LABELS)
    y_pred: str | Callable[[dict], str] = VALUES
    class_axis: bool = False
    doc: str = ""
    # For user-registered losses: an independent float64 NumPy function (y_true, y_pred, **params)
    # -> the unreduced loss (what reduction="none" returns), or (it, the count its mean divides
    # by) where the loss's Terms carry a count; the harness adds the reduction.
    reference: Callable | None = None
    # For user-registered losses: parameter dicts the harness checks besides the defaults.
    parameter_sets: tuple = ()
    # True: the formula checks the y_pred values it reads (``call.check_probabilities``)
    # instead of the contract checking all of y_pred (sparse CE reads one class per entry).
    checks_read_values: bool = False
    # True: every path of the formula gathers at every label (ignored ones set to 0 first), so
    # a backend whose gathers check their indices (``Ops.gathers_check_bounds``) checks them.
    gathers_labels: bool = False
    # The inputs whose minimum the formula uses, from ``call.true_range`` / ``call.pred_range``
    # (a log floor that a minimum above 1.2e-38 skips). Probabilities of the others, and labels
    # without an ignore_index, may be checked by their max alone (``Ops.range_reader``'s
    # ``minimum=False``; contract.value_checker reads the exact range where that check fails).
    uses_minimum: tuple[str, ...] = ("y_true", "y_pred")
    # Raises (errors.bad_value) on a combination of bound parameters that no input can make
    # valid, so that get() refuses it (``crossloss.core.bind``).
    check_params: Callable[[dict], None] | None = None
    reductions: tuple = ("mean", "sum", "none")  # compat="torch" KL adds "batchmean"
    # False: the unreduced values are not laid over y_pred's entries (less the class axis) but
    # are sums over them (Dice: per sample and class), so a per-entry mask (Keras's) cannot weigh them.
    values_per_entry: bool = True
    # Elementwise inputs that differ by a trailing axis of 1, e.g. (B,) and (B, 1), take y_pred's
    # shape; ``same_rank(true_shape, pred_shape)`` -> "y_true" makes both take y_true's instead.
    same_rank: Callable[[tuple, tuple], str] | None = None
    compat: str | None = None  # the framework profile this spec reproduces, if any
    extra: dict = field(default_factory=dict)

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}

    def prediction_kind(self, params: dict) -> str:
        return self.y_pred(params) if callable(self.y_pred) else self.y_pred

    def target_kind(self, params: dict) -> str:
        return self.y_true(params) if callable(self.y_true) else self.y_true

    def describe(self) -> str:
        lines = [f"{self.name}" + (f" (aliases: {', '.join(self.aliases)})" if self.aliases else "")]
        if self.doc:
            lines.append(self.doc)
        lines.append(f"formula: {self.formula}")
        if "none" in self.reductions:
            lines.append(f"reduction='none' returns: {self.none_shape}")
        lines.append("parameters:")
        allowed = " | ".join(map(repr, self.reductions))
        lines.append(f"  reduction = 'mean': {allowed}" if "mean" in self.reductions else
                     f"  reduction (get() needs one; 'mean' is not one): {allowed}")
        lines += [f"  {p.name} = {p.default!r}: {p.doc}" for p in self.params]
        return "\n".join(lines)

    __str__ = describe


# --- parameter validators: each returns the normalised value or raises TypeError(expected)
# for a value of the wrong type and ValueError(expected) for a wrong value of the right one ---

def real(value) -> float:
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":  # np.array(2.0), as Keras takes
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError("a finite real number")
    if not math.isfinite(value):
        raise ValueError("a finite real number")
    return float(value)


def positive(value) -> float:
    if real(value) <= 0:
        raise ValueError("a number > 0")
    return float(value)


def non_negative(value) -> float:
    if real(value) < 0:
        raise ValueError("a number >= 0")
    return float(value)


def unit_interval(value) -> float:
    if not 0.0 <= real(value) <= 1.0:
        raise ValueError("a number in [0, 1]")
    return float(value)


def boolean(value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError("True or False")
    return bool(value)


def one_of(*choices) -> Callable[[Any], Any]:
    """One of some strings (or None, where it is one): a NumPy array is no choice, nor a number."""
    expected = "one of " + ", ".join(repr(c) for c in choices)

    def check(value):
        if value is None and None in choices:
            return None
        if not isinstance(value, str):  # (an array's == would compare each entry)
            raise TypeError(expected)
        if value not in choices:
            error = ValueError(expected)
            error.hint = did_you_mean(value, [c for c in choices if isinstance(c, str)])  # (bind shows it)
            raise error
        return str(value)  # (a NumPy string too)
    return check


def integer_or_none(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError("an integer or None")
    if not -2 ** 63 <= value < 2 ** 63:  # labels are compared as int64: a wider value would wrap
        raise ValueError("an integer in the int64 range [-2**63, 2**63) or None")
    return int(value)


def axis(value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError("an integer axis")
    return int(value)


def weights_or_none(value):
    """None, a non-negative scalar, or a 1-D array of non-negative finite weights (kept as float64)."""
    if value is None:
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        value = float(value)  # a Fraction, as real() takes it
    array = _as_numpy(value)
    if array.dtype.kind not in "iuf":  # a bool is no weight (as for delta and beta)
        raise TypeError("None, a number or a non-empty 1-D array of numbers")
    if array.ndim > 1 or array.size == 0:
        raise ValueError("None, a number or a non-empty 1-D array of numbers")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError("finite weights >= 0")
    return float(array) if array.ndim == 0 else array


def _as_numpy(value) -> np.ndarray:
    """A parameter given as a tensor is read once, at ``get()``, never in the loss path."""
    if hasattr(value, "detach"):  # torch; bfloat16 has no NumPy dtype, and weights are float64 anyway
        if getattr(value, "is_meta", False):
            raise ValueError("a tensor with values (a 'meta' tensor has none to read)")
        if value.requires_grad:  # torch's losses refuse one too: it would silently take no gradient
            raise TypeError("a constant (read once, at get(); it takes no gradient), not a tensor that requires grad")
        value = value.detach().cpu()
        value = (value.double() if value.is_floating_point() else value).numpy()
    elif hasattr(value, "numpy") and not isinstance(value, np.ndarray):  # tensorflow eager
        value = value.numpy()
    try:
        array = np.asarray(value)
    except ValueError:  # NumPy's own text ("setting an array element with a sequence...") would stand as the expected
        raise ValueError("an array of numbers (a ragged list is none)") from None
    return array.astype(np.float64) if array.dtype.name == "bfloat16" else array  # TensorFlow's, via ml_dtypes
