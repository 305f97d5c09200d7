"""The input contract, checked once for every loss: shapes, dtypes and values.

Shapes are never broadcast silently. Values are checked where reading them is free
(see ``crossloss.options``); on accelerators and in traced graphs nothing is read back.
"""
from __future__ import annotations

import functools
import math
import numbers
import operator

import numpy as np

from . import backends as _backends
from .errors import bad_type, bad_value
from .ops import size1_shape
from .spec import DENSE_OR_LABELS, LABELS, LOG_PROBABILITIES, LOGITS, PROBABILITIES

# float16/bfloat16 are computed in float32 (their range and precision break log/exp forms).
COMPUTE_DTYPE = {"float16": "float32", "bfloat16": "float32", "float32": "float32", "float64": "float64"}
_DENSE = "a dense array or tensor of numbers"
REAL = "a real (float, integer or bool) tensor"  # what a complex or string input is refused for
INTEGER = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
EXACT_INDICES = INTEGER[:-1]  # labels whose cast to int64 keeps every value (not uint64's from 2**63)


class Call:
    """What a loss's math sees: ``ops``, the bound parameters as attributes, and the layout.

    ``axis``: the class axis (non-negative) or None; ``labels``: y_true holds integer labels;
    ``num_classes``: size of the class axis; ``dtype``: the compute dtype. ``true_range`` and
    ``pred_range``: (min, max) of y_true / y_pred where the value checks read them this call
    (None: unknown), so that a formula may skip a guard that these values cannot reach.
    ``read``: y_pred's range reader where this call's checks may read it, else None.

    A loss keeps one Call per input signature and gives each call a copy (``for_call``; in a
    trace, where no Call is kept, the one made for the call): the math must not rely on
    attributes set by an earlier call. Under ``native_kernels=False``
    the ranges are never set: a read range must not shorten the math (``fact``).
    """

    is_frozen = False  # (frozen: the attributes are the class's)

    def __init__(self, ops, params: dict, dtype: str, loss: str = ""):
        for name, value in params.items():  # (not __dict__.update: torch 2.11's Dynamo cannot trace it)
            setattr(self, name, value)
        self.ops = ops
        self.dtype = dtype
        self.loss = loss
        self.read = None
        self.axis_param = params.get("axis")
        self.axis = None
        self.labels = False
        self.num_classes = None
        self.true_range = self.pred_range = None
        self.shortcuts = False
        self.index_shape = None  # label_index's shape, where y_pred's shape is static

    def for_call(self, settings, true_range=None, pred_range=None, read=None) -> "Call":
        """A copy for one call with what its value checks found; ``settings``: crossloss's options."""
        # A template that was not frozen (in a trace) serves its one call itself: copying its
        # attributes would break the graph (torch 2.11's Dynamo traces no __dict__ methods)
        call = object.__new__(type(self)) if self.is_frozen else self
        call.read = read
        call.shortcuts = settings.native_kernels  # False: the generic formula, guards and all
        if call.shortcuts:
            call.true_range, call.pred_range = true_range, pred_range
        return call

    def frozen(self) -> "Call":
        """This template with its attributes moved into a class of its own: a call's copy is
        then an empty instance of it (about a third of the cost of copying the attributes).
        Not in a trace: creating a class there would break the graph."""
        return object.__new__(type("Call", (Call,), {**self.__dict__, "is_frozen": True}))

    def label_index(self, labels, y_pred):
        """Labels (or a mask of their shape) with a size-1 class axis inserted: the index
        ``take_along_axis`` gathers with."""
        return self.ops.reshape(labels, self.index_shape or size1_shape(self.ops.shape(y_pred), self.axis))

    def class_count(self, y_pred):
        """K, the size of the class axis: a number, or where a graph leaves it unknown, a
        scalar tensor of the compute dtype (for arithmetic such as label smoothing's e / K)."""
        if self.num_classes is not None:
            return self.num_classes
        return self.ops.cast(self.ops.length(y_pred, self.axis), self.dtype)

    def check_probabilities(self, values, argument: str = "y_pred"):
        """For formulas that check only the values they read (LossSpec.checks_read_values).
        Returns their (min, max) where read, else None."""
        if self.read is None:
            return None
        found = self.read(values)
        if not (0.0 <= found[0] and found[1] <= 1.0):  # (the test inline: a call costs ~0.3 us at 1e3)
            _check_probabilities(self.loss, argument, found)
        return self.fact(found)

    def fact(self, found):
        """A range read by a check, as the math may use it: None under native_kernels=False."""
        return found if self.shortcuts else None


# A loss parameter is an attribute of the Call, so it cannot take a name the Call uses itself
# (it would be overwritten, or hide a method); "axis" is the class axis of a loss that has one.
RESERVED_NAMES = frozenset(vars(Call(None, {}, "float32"))) | {n for n in vars(Call) if not n.startswith("_")}


def compute_dtype(loss: str, ops, y_pred) -> str:
    name = check_real(loss, "y_pred", ops, y_pred)
    return COMPUTE_DTYPE.get(name, "float32")


def check_plain_real(loss: str, argument: str, value) -> None:
    """A NumPy array or Python number(s) about to become a tensor: real, as ``check_real``.
    Not in a trace: dynamo cannot read an array's dtype there, and ``check_real`` checks the
    tensor it becomes instead."""
    if _backends.tracing():
        return
    unfit = unfit_array(value)
    if unfit is not None:
        raise bad_type(loss, argument, _DENSE, unfit)
    try:
        kind = np.asarray(value).dtype
    except (ValueError, TypeError, RuntimeError) as error:  # a ragged list; tensors that need grad or a device
        raise bad_value(loss, argument, "an array, a tensor, a number or nested lists of equal lengths",
                        f"a {type(value).__name__} NumPy cannot make an array of ({error})") from None
    if kind.name not in COMPUTE_DTYPE and kind.name not in INTEGER:  # e.g. a long double no framework has
        raise bad_type(loss, argument, REAL, _unfit_entry(value, kind))


def _unfit_entry(value, kind) -> str:
    """What gave a list or number an unfit dtype: its first entry that is no real number, or
    an integer that neither int64 nor uint64 holds (NumPy makes such a list dtype object)."""
    if isinstance(value, np.ndarray) or kind.kind not in "OUS":
        return f"dtype {kind}"
    for entry in np.asarray(value, dtype=object).reshape(-1):
        if isinstance(entry, (bool, np.bool_, float, np.floating, np.integer)):
            continue
        if isinstance(entry, int):
            if not -2 ** 63 <= entry < 2 ** 64:
                return f"dtype {kind}, from the integer {entry}, beyond int64 and uint64"
            continue
        return f"dtype {kind}, from the entry {entry!r} ({type(entry).__name__})"
    return f"dtype {kind}"


def plain_tensor(ops, value, like):
    """A NumPy array, list or Python number as a tensor of ``like``'s framework and device, of
    the dtype NumPy reads it as (a Python float is float64: one rounding, in the cast to the
    compute dtype)."""
    return ops.asarray(np.asarray(value), like=like)


def unfit_array(value) -> str | None:
    """What makes a NumPy array unfit for a loss, or None: a masked array's mask would be lost
    (and NumPy's arithmetic keeps it only on some paths), a matrix's * is a matrix product."""
    if isinstance(value, np.ma.MaskedArray):
        return "a masked array (its mask would be ignored: give it as sample_weight)"
    if isinstance(value, np.matrix):
        return "an np.matrix (its * is a matrix product: give np.asarray(m))"
    return None


def check_real(loss: str, argument: str, ops, x) -> str:
    """x's dtype name; complex numbers and strings are refused (a cast would drop or parse them),
    and so are tensors a backend cannot take as a plain array (``Ops.unfit``)."""
    unfit = ops.unfit(x)
    if unfit is not None:
        raise bad_type(loss, argument, _DENSE, unfit)
    name = ops.dtype_name(x)
    if name not in COMPUTE_DTYPE and name not in INTEGER:
        raise bad_type(loss, argument, REAL, f"dtype {name}")
    return name


def check_device(loss: str, ops, y_true, y_pred) -> None:
    """Both inputs on one device: torch would not compare them (on meta, not even refuse)."""
    found = ops.device_mismatch(y_true, y_pred)
    if found is not None:
        raise bad_value(loss, "y_true", f"a tensor on y_pred's device, {y_pred.device}", found)


def check_axes(loss: str, argument: str, axes, pred_shape) -> None:
    """``axes`` (an int or a tuple of them) name different axes of y_pred, of ``pred_shape``."""
    given = (axes,) if isinstance(axes, int) else tuple(axes)
    rank = len(pred_shape)
    if any(not -rank <= a < rank for a in given) or len({a % rank for a in given}) != len(given):
        raise bad_value(loss, argument, f"{'distinct axes' if len(given) > 1 else 'an axis'} of y_pred, which has "
                        f"shape {pred_shape}", repr(axes))


def layout(loss: str, spec, call: Call, y_true, y_pred):
    """Check shapes and set the call's layout; return the shapes y_true and y_pred must be
    reshaped to (labels without their class axis, (B,) for (B, 1)), None to take one as it is.
    Inputs of elementwise losses that differ by a trailing axis of 1 take y_pred's shape, or
    the one ``spec.same_rank`` picks (Keras's rule in its profile)."""
    ops = call.ops
    true_shape, pred_shape = ops.static_shape(y_true), ops.static_shape(y_pred)  # None: unknown in a graph
    for argument, shape in (("y_true", true_shape), ("y_pred", pred_shape)):
        if shape is None:  # a graph's signature may leave sizes unknown, but the axes must be known
            raise bad_value(loss, argument, "a tensor of known rank", "a tensor of unknown rank")
    if spec.class_axis and call.axis_param is not None:
        check_axes(loss, "axis", call.axis_param, pred_shape)
        call.axis = call.axis_param % len(pred_shape)
        call.num_classes = pred_shape[call.axis]
        if spec.y_true in (LABELS, DENSE_OR_LABELS):
            if spec.y_true == DENSE_OR_LABELS and len(true_shape) == len(pred_shape) and true_shape[call.axis] is None \
                    and pred_shape[call.axis] not in (1, None):  # (both unknown: dense, as equal shapes are)
                raise bad_value(loss, "y_true", "a class-axis size given by the graph's signature (dense targets of "
                                f"y_pred's shape {pred_shape} and labels with a size-1 class axis look alike without it)",
                                f"shape {true_shape}")
            call.labels = spec.y_true == LABELS or not _same(true_shape, pred_shape)
            if call.labels:
                return _labels_layout(loss, call, y_true, y_pred, true_shape, pred_shape,
                                      spec.y_true == DENSE_OR_LABELS), None
    if _same(true_shape, pred_shape):  # sizes a graph leaves unknown: compared when it runs (shape_guard)
        return None, None
    if not spec.class_axis and _aligned(true_shape, pred_shape):
        if spec.same_rank is not None and spec.same_rank(true_shape, pred_shape) == "y_true":
            return None, ops.shape(y_true)
        return ops.shape(y_pred), None
    expected = f"the shape of y_pred, {pred_shape}"
    if not spec.class_axis:
        expected += " (or it with or without a trailing axis of size 1)"
    raise bad_value(loss, "y_true", expected, f"shape {true_shape}")


def _same(a: tuple, b: tuple) -> bool:
    """Shapes that may be equal: equal where both sizes are known (None: a graph's unknown size)."""
    return len(a) == len(b) and all(x == y or x is None or y is None for x, y in zip(a, b))


def _aligned(a: tuple, b: tuple) -> bool:
    """(B,) against (B, 1), either way round: the same values, never broadcast to (B, B)."""
    if len(a) < len(b):
        a, b = b, a
    return len(a) == len(b) + 1 and a[-1] in (1, None) and _same(a[:-1], b)  # (an unknown 1: the reshape checks it)


def _labels_layout(loss, call, y_true, y_pred, true_shape, pred_shape, dense_too):
    axis = call.axis
    label_shape = pred_shape[:axis] + pred_shape[axis + 1:]
    index_shape = size1_shape(pred_shape, axis)
    if dense_too and call.num_classes == 1 and _same(true_shape, label_shape):
        call.labels = False  # one class: a mask without its class axis, aligned as (B,) with (B, 1)
        return call.ops.shape(y_pred)
    if None not in pred_shape:
        call.index_shape = index_shape
    if _same(true_shape, label_shape):
        return None
    if _same(true_shape, index_shape) and true_shape[axis] in (1, None):  # (an unknown 1: the reshape checks it)
        dims = call.ops.shape(y_pred)
        return dims[:axis] + dims[axis + 1:]
    dense = f", or dense targets of y_pred's shape {pred_shape}" if dense_too else ""
    raise bad_value(loss, "y_true", f"integer labels of shape {label_shape} (y_pred's shape without the class "
                    f"axis {axis}) or {index_shape}{dense}", f"shape {true_shape}")


def value_checker(loss: str, spec, call: Call, y_true, y_pred, kinds: tuple, force: bool,
                  kernel_covers_pred: bool = False, kernel_skipped_label: int | None = None):
    """The value check of inputs with this signature, or None where none of them can be read.

    ``kinds``: what y_true and y_pred hold (``LossSpec.target_kind``, ``prediction_kind``).
    ``check(template, settings, y_true, y_pred, kernel_runs, read_all)`` raises on
    probabilities outside [0, 1] and labels outside [0, C), and returns the template's copy
    for this call (``Call.for_call``) with what it read. Logits are read too, though any
    value is valid: knowing them finite lets the math skip its guards. Two reads are left to
    the framework where it does them anyway: y_pred where the plan's fused kernel runs and
    covers it (``kernel_covers_pred``: it raises on probabilities outside [0, 1], or reads
    its own result instead of the logits), and integer labels where the formula runs and its
    gathers check their indices. A fused kernel may refuse every label out of range but one
    that it skips, ``kernel_skipped_label`` (torch's cross_entropy, its ignore_index): none is
    read where that one is the loss's ignore_index or a value the labels' dtype cannot hold,
    else only their minimum (the skipped label is negative). If the
    loss then raises, the call checks again with ``read_all`` to say what was wrong
    (``explain_failure``). What is read, and how, is decided here once per input
    signature and check mode (``force``: read accelerator tensors too); a call only reads and
    compares.
    """
    ops = call.ops
    if not ops.readable(y_true, y_pred):
        return None
    target, prediction = kinds
    labels = call.labels
    true_kind = None if labels else target if target in _BOUNDED else PROBABILITIES
    fractional = labels and ops.dtype_name(y_true) not in INTEGER
    ignore = getattr(call, "ignore_index", None)
    # values >= 0 whose min no formula uses may be read by their max alone (Ops.range_reader's
    # minimum=False); where that check fails, the exact range is read for the message
    bound_pred = prediction == PROBABILITIES and "y_pred" not in spec.uses_minimum
    bound_true = "y_true" not in spec.uses_minimum and (true_kind == PROBABILITIES
                                                         or labels and not fractional and ignore is None)
    read_pred = ops.range_reader(y_pred, force, nonnegative=prediction == PROBABILITIES, minimum=not bound_pred)
    exact_pred = ops.range_reader(y_pred, force) if bound_pred else read_pred
    pred_checked = prediction in _BOUNDED and not spec.checks_read_values
    read_whole_pred = read_pred if pred_checked or prediction == LOGITS else None
    read_true = exact_true = None
    if labels or target in _BOUNDED or target == DENSE_OR_LABELS:
        read_true = ops.range_reader(y_true, force, nonnegative=true_kind == PROBABILITIES or bound_true,
                                     minimum=not bound_true)
        exact_true = ops.range_reader(y_true, force) if bound_true else read_true
    if read_pred is None and read_true is None:
        return None
    to_gathers = (read_true is not None and labels and not fractional and spec.gathers_labels
                  and ignore is None and ops.gathers_check_bounds(y_pred))
    skipped = kernel_skipped_label if labels and not fractional else None
    kernel_covers_labels = skipped is not None and (skipped == ignore or not _holds(ops.dtype_name(y_true), skipped))
    read_true_min = ops.min_reader(y_true, force) if to_gathers and skipped is not None and not kernel_covers_labels \
        else None
    # what the values must lie in; each call compares inline, and calls the helper that raises
    # only where a value is outside (at 1e3 values each Python call costs ~0.3 us)
    pred_lo, pred_hi = _BOUNDED[prediction][0] if pred_checked else (None, None)
    if not labels:
        true_lo, true_hi = _BOUNDED[true_kind][0]
    elif fractional or call.num_classes is None:
        true_lo, true_hi = math.inf, -math.inf  # no value passes: the helper checks each call
    else:
        true_lo, true_hi = 0, call.num_classes - 1

    def check(template, settings, y_true, y_pred, kernel_runs=False, read_all=False):
        pred_range = true_range = None
        if read_whole_pred is not None and (read_all or not (kernel_runs and kernel_covers_pred)):
            pred_range = read_whole_pred(y_pred)
            if pred_checked and not (pred_lo <= pred_range[0] and pred_range[1] <= pred_hi):  # NaN fails too
                _check_bounded(loss, "y_pred", exact_pred(y_pred) if bound_pred else pred_range, prediction)
        if kernel_runs and not read_all and (kernel_covers_labels or read_true_min is not None
                                             and read_true_min(y_true) >= 0):
            pass  # the kernel refuses every label out of range it does not skip
        elif read_true is not None and (read_all or not to_gathers or kernel_runs):
            true_range = read_true(y_true)
            if not (true_lo <= true_range[0] and true_range[1] <= true_hi):
                found = exact_true(y_true) if bound_true else true_range
                if labels:
                    _check_labels(loss, template, y_true, found, exact_true, fractional)
                else:
                    _check_bounded(loss, "y_true", found, true_kind)
        # read: for formulas that check the y_pred values they read themselves
        return template.for_call(settings, true_range, pred_range, read_pred)
    return check


def label_indices(call: Call, labels):
    """Labels that int64 does not hold as they are, as int64 indices. A float label with a
    fractional part, or NaN, and a uint64 label from 2**63 (the cast wraps it to a negative
    number: 2**63 would be -2**63, which torch's kernel skips, or the ignore_index) become
    -1 (-2 where -1 is ignore_index): an index out of range, which a gather refuses or
    label_guard makes NaN. Where nothing reads the labels (graphs, value_checks="never"), the
    cast alone would count 2.5 as class 2 (and XLA's a NaN as class 0)."""
    ops = call.ops
    index = ops.cast(labels, "int64")
    dtype = ops.dtype_name(labels)
    whole = index >= 0 if dtype == "uint64" else ops.cast(index, dtype) == labels
    return ops.where(whole, index, -2 if getattr(call, "ignore_index", None) == -1 else -1)


def label_guard(call: Call, y_true, y_pred, mode: str):
    """For labels that go unread (traced graphs; accelerators unless ``mode`` is "always";
    everywhere under "never") on a backend whose gathers give a number at an index out of
    range (XLA clamps it, TensorFlow's GPU gather gives 0, NumPy's wraps a negative one):
    ``guard(result, labels, y_pred)``, the result made NaN where any label is out of range.
    A where on the device, no host read: the bad label shows, as a NaN (Keras's built-in
    gives one too). None where labels are read, or a bad one stops the gather."""
    ops = call.ops
    if not call.labels or ops.gathers_fail_out_of_range(y_pred):
        return None
    if mode != "never" and ops.range_reader(y_true, mode == "always") is not None:
        return None
    axis, ignore = call.axis, getattr(call, "ignore_index", None)

    def guard(result, labels, y_pred):
        bad = (labels < 0) | (labels >= ops.length(y_pred, axis))
        if ignore is not None:
            bad = bad & (labels != ignore)
        return ops.where(ops.any(bad), math.nan, result)
    return guard


def shape_guard(call: Call, y_true, y_pred):
    """For graphs whose signature leaves sizes unknown (TensorFlow's None): inputs whose shapes
    agree where they are known may still differ at run time, and the framework would
    broadcast them (MSE of (1,) against (4,)). ``guard(result, y_true, y_pred)``, on the inputs
    as the loss takes them: the result made NaN where a size differs, compared on the device
    (XLA cannot raise). None where every size is known, or where a reshape of one input to the
    other's sizes checks them already."""
    ops = call.ops
    true_shape, pred_shape = ops.static_shape(y_true), ops.static_shape(y_pred)
    if call.labels:
        pred_shape = pred_shape[:call.axis] + pred_shape[call.axis + 1:]
    unknown = [i for i, (a, b) in enumerate(zip(true_shape, pred_shape)) if a is None or b is None]
    if not unknown or len(true_shape) != len(pred_shape):
        return None
    axis = call.axis if call.labels else None

    def guard(result, y_true, y_pred):
        sizes, expected = ops.shape(y_true), ops.shape(y_pred)
        if axis is not None:
            expected = expected[:axis] + expected[axis + 1:]
        same = functools.reduce(operator.and_, (sizes[i] == expected[i] for i in unknown))
        return ops.where(same, result, math.nan)
    return guard


def explain_failure(plan_checks: dict, settings, call: Call, y_true, y_pred) -> None:
    """After a framework's refusal (``Ops.refusals``) in a loss's math: read every input now, so that a
    value that a framework's own check refused raises the contract's ValueError instead. With
    value_checks="never" too: reading costs nothing that matters once the call has failed."""
    check = plan_checks.get(settings.value_checks) or plan_checks.get("always")
    if check is not None:
        try:
            check(call, settings, y_true, y_pred, read_all=True)
        except ValueError as error:
            raise error from None  # the framework's own message adds nothing to the contract's


# an input kind whose values lie in bounds -> (the bounds, what the error says is expected)
_BOUNDED = {PROBABILITIES: ((0.0, 1.0), "probabilities in [0, 1]"),
            LOG_PROBABILITIES: ((-math.inf, 0.0), "log-probabilities (values <= 0)")}


def _check_bounded(loss, argument, found, kind):
    (lo, hi), expected = _BOUNDED[kind]
    if not (lo <= found[0] and found[1] <= hi):  # NaN fails too
        _refuse(loss, argument, found, expected, (lo, hi))


def _check_probabilities(loss, argument, found):
    _check_bounded(loss, argument, found, PROBABILITIES)


def _refuse(loss, argument, found, expected, bounds, hint=""):
    if any(math.isnan(v) for v in found):  # a reduction that meets a NaN returns it
        raise bad_value(loss, argument, expected, "values including NaN")
    raise bad_value(loss, argument, expected,
                    f"values from {_shown(found[0], bounds)} to {_shown(found[1], bounds)}{hint}")


def _shown(value, bounds) -> str:
    """value to 6 digits, or as many more as it takes to show on which side of ``bounds``
    it lies (1 + 1e-7 is not "1"); integers exactly."""
    if isinstance(value, numbers.Integral):
        return str(value)
    inside = bounds[0] <= value <= bounds[1]
    for digits in (6, 9, 12, 17):
        text = f"{value:.{digits}g}"
        if (bounds[0] <= float(text) <= bounds[1]) == inside:
            return text
    return text


def _check_labels(loss, call, y_true, found, read, fractional):
    ops = call.ops
    ignore = getattr(call, "ignore_index", None)
    if call.num_classes == 0:  # [0, 0) would read as a range
        raise bad_value(loss, "y_pred", "a class axis of one class or more for integer labels", "a class axis of size 0")
    if not 0 <= found[0] <= found[1] < call.num_classes:
        if ignore is not None and _holds(ops.dtype_name(y_true), ignore):
            if ops.dtype_name(y_true) == "bool":  # (TensorFlow compares no bool with a number)
                y_true = ops.cast(y_true, "int64")
                read = ops.range_reader(y_true, force=True)
            found = read(ops.where(y_true == ignore, 0, y_true))  # ignored labels are fine
        if not (0 <= found[0] and found[1] <= call.num_classes - 1):  # NaN fails too
            hint = " (-100 is torch's default ignore_index, which crossloss does not assume: pass " \
                   "ignore_index=-100)" if ignore is None and found[0] == -100 else ""
            _refuse(loss, "y_true", found, _expected_labels(call, ignore), (0, call.num_classes - 1), hint)
    if fractional:
        dtype = ops.dtype_name(y_true)
        if read(ops.abs(y_true - ops.cast(ops.cast(y_true, "int64"), dtype)))[1] != 0:
            raise bad_value(loss, "y_true", _expected_labels(call, ignore), "labels with a fractional part")


def _holds(dtype: str, value: int) -> bool:
    """Whether labels of this dtype can equal the integer ``value`` (comparing them with one
    they cannot hold, a framework would wrap it: uint8 labels of 255 would equal -1)."""
    if dtype == "bool":
        return value in (0, 1)
    if dtype not in INTEGER:
        return True
    limits = np.iinfo(dtype)
    return int(limits.min) <= value <= int(limits.max)


def _expected_labels(call, ignore) -> str:
    return f"integer labels in [0, {call.num_classes})" + (f" or ignore_index={ignore}" if ignore is not None else "")


def weight_for(loss: str, ops, sample_weight, values, like, argument: str = "sample_weight", per_sample=True):
    """sample_weight as a tensor that multiplies ``values``: a scalar, or a prefix of its shape
    (trailing axes of size 1 aside: (B, 1) weighs each sample of a (B, C) loss, as (B,) does).
    ``per_sample`` False: the values span the batch (Dice with batch=True), and only a scalar,
    which scales the loss (as Keras takes it), is taken."""
    if ops.is_tensor(sample_weight):
        check_real(loss, argument, ops, sample_weight)
        weight = ops.on_device_of(sample_weight, values)
        if weight is None:
            raise bad_value(loss, argument, f"a tensor on y_pred's device, {values.device}, or a 0-d one with a value",
                            f"a tensor of shape {ops.static_shape(sample_weight)} on {sample_weight.device}")
    else:
        check_plain_real(loss, argument, sample_weight)
        weight = plain_tensor(ops, sample_weight, like)
        check_real(loss, argument, ops, weight)
    weight = ops.cast(weight, ops.dtype_name(values))
    shape, target = ops.static_shape(weight), ops.static_shape(values)
    if shape is None:
        raise bad_value(loss, argument, "a tensor of known rank (a graph's input signature must give it)",
                        "a tensor of unknown rank")
    given = ops.shape(weight)
    # trailing axes of size 1 go, and beyond the values' rank unknown ones too (the reshape checks they are 1)
    while shape and (shape[-1] == 1 or shape[-1] is None and len(shape) > len(target)) and \
            (len(shape) > len(target) or target[len(shape) - 1] != 1):
        shape = shape[:-1]
    if not per_sample and shape:
        raise bad_value(loss, argument, "None or a scalar: this loss's unreduced values are not per sample "
                        f"(shape {target})", f"shape {ops.static_shape(weight)}")
    if not all(a == b or a is None or b is None for a, b in zip(shape, target[:len(shape)])) or len(shape) > len(target):
        raise bad_value(loss, argument, f"a scalar or an array whose shape is a prefix of the "
                        f"unreduced loss's shape {target}", f"shape {ops.static_shape(weight)}")
    weight = ops.reshape(weight, given[:len(shape)] + (1,) * (len(target) - len(shape)))
    unknown = [i for i, (a, b) in enumerate(zip(shape, target)) if a is None or b is None]
    if unknown:  # a graph's unknown sizes, compared as shape_guard compares the inputs': the product would broadcast
        expected = ops.shape(values)

        def fits(i):  # the values' size, or 1 with only 1s after it (a trailing axis of 1 weighs alike)
            ones = functools.reduce(operator.and_, (given[j] == 1 for j in range(i, len(given))))
            return (given[i] == expected[i]) | ones
        weight = ops.where(functools.reduce(operator.and_, map(fits, unknown)), weight, math.nan)
    return weight
