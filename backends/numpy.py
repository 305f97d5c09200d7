"""NumPy backend: the op table on ``numpy.ndarray``. NumPy has no fused kernels; one loss
runs the formula's own kernel where nothing read its logits (``NATIVE``)."""
from __future__ import annotations

import functools

import numpy as np

from crossloss.backends.kernels import bce_from_logits
from crossloss.contract import unfit_array
from crossloss.ops import WIDE_SUMS_FROM, Ops, around_axis, class_zero_positions, refuse_two_numbers, values_per_result

# per (shape, axes): 0.15 against 0.5 us a lookup, three of them in a 1e3 Dice (41 against 44 us)
_values_per_result = functools.lru_cache(maxsize=256)(values_per_result)


_SLICE_FROM = 1 << 18  # values from which NumpyOps.bce_with_logits_exact goes in slices
_SLICE = 1 << 15  # values per slice (its temporaries: 5 x 128 KB in float32, within a 2 MB L2 cache)

_NAMES = {np.dtype(n): n for n in ("float16", "float32", "float64", "int8", "int16", "int32", "int64",
                                   "uint8", "uint16", "uint32", "uint64", "bool")}


def _shifted(x, axis):
    """x - max(x) along ``axis``, a new array (no overflow: x is known within +-finfo.max / 32
    or clamped to +-finfo.max / 4). With no class there is no max: a copy (the losses are empty
    sums, as on torch and TF)."""
    if not x.shape[axis]:
        return x.copy()
    return x - np.max(x, axis=axis, keepdims=True)


def _buffer(t, y=None):
    """t as the output buffer of ``t op y`` when the result fits in it, else None (allocate)."""
    if not isinstance(t, np.ndarray) or t.ndim == 0:
        return None
    if y is None:
        return t
    shape = getattr(y, "shape", ())  # a Python number: ()
    # np.broadcast_shapes would cost 2.5 us, three times a 1e3-element product
    fits = shape == t.shape or len(shape) <= t.ndim and all(s == 1 or s == d for s, d in zip(shape[::-1], t.shape[::-1]))
    return t if fits and np.result_type(t, y) == t.dtype else None


class NumpyOps(Ops):
    name = "numpy"

    tensor_types = (np.ndarray, np.generic)

    def asarray(self, x, like=None, dtype=None):
        return np.asarray(x, dtype=dtype)

    def unfit(self, x):
        return unfit_array(x)

    def dtype_name(self, x):
        return _NAMES.get(x.dtype) or x.dtype.name  # dtype.name is computed in Python, slowly

    def cast(self, x, dtype):
        return np.asarray(x).astype(dtype, copy=False)

    def shape(self, x):
        return x.shape

    def size(self, x):
        return x.size

    def reshape(self, x, shape):
        return np.reshape(x, shape)

    def finfo_max(self, dtype):
        return float(np.finfo(dtype).max)

    def sum(self, x, axis=None, keepdims=False):
        return np.add.reduce(x, axis=axis, keepdims=keepdims)

    def mean(self, x, axis=None, keepdims=False):
        return np.mean(x, axis=axis, keepdims=keepdims)

    def any(self, x, axis=None):
        return np.logical_or.reduce(x, axis=axis)

    def where(self, condition, a, b):
        refuse_two_numbers(a, b)
        return np.where(condition, a, b)

    maximum = staticmethod(np.maximum)
    minimum = staticmethod(np.minimum)
    abs = staticmethod(np.abs)
    square = staticmethod(np.square)
    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    log1p = staticmethod(np.log1p)

    ones_like = staticmethod(np.ones_like)

    def arange(self, n, like):
        return np.arange(n, dtype=np.int64)

    # In place on the formula's own temporaries (a 0-d result is a NumPy scalar: no buffer).
    def log_(self, t):
        return np.log(t, out=_buffer(t))

    def abs_(self, t):
        return np.abs(t, out=_buffer(t))

    def square_(self, t):
        return np.square(t, out=_buffer(t))

    def maximum_(self, t, y):
        return np.maximum(t, y, out=_buffer(t, y))

    def mul_(self, t, y):
        return np.multiply(t, y, out=_buffer(t, y))

    def add_(self, t, y):
        return np.add(t, y, out=_buffer(t, y))

    def sub_(self, t, y):
        return np.subtract(t, y, out=_buffer(t, y))

    def take_along_axis(self, x, index, axis):
        """One entry per position, read at flat positions (see ``class_zero_positions``)."""
        if x.ndim == 1:
            return x[index]
        if not x.flags.c_contiguous:  # x.reshape(-1) would copy
            return np.take_along_axis(x, index, axis)
        outer, classes, inner = around_axis(x.shape, axis)
        positions = class_zero_positions(outer, classes, inner).reshape(index.shape) + index * inner
        return x.reshape(-1)[positions]

    def segment_sum(self, values, ids, num_segments, most=None):  # (bincount adds in float64)
        return _bincount(ids, num_segments, values).astype(values.dtype, copy=False)

    def segment_count(self, ids, num_segments, like, most=None):
        return _bincount(ids, num_segments).astype(like.dtype)  # integer counts: no ones, no drift

    def signature(self, y_true, y_pred):  # (subclasses differ: a masked array is refused, a plain one not)
        return ("numpy", type(y_true), y_true.shape, y_true.dtype, type(y_pred), y_pred.shape, y_pred.dtype)

    def matcher(self, y_true, y_pred):
        if type(y_true) is not np.ndarray or type(y_pred) is not np.ndarray:
            return None
        true_shape, true_dtype, pred_shape, pred_dtype = y_true.shape, y_true.dtype, y_pred.shape, y_pred.dtype

        def matches(y_true, y_pred):
            return (type(y_pred) is np.ndarray and type(y_true) is np.ndarray and y_pred.shape == pred_shape
                    and y_true.shape == true_shape and y_pred.dtype == pred_dtype and y_true.dtype == true_dtype)
        return matches

    def range_reader(self, like, force=False, nonnegative=False, minimum=True):
        if not like.size:
            return None
        if nonnegative and not minimum and like.dtype in UNSIGNED:
            return nonnegative_bound
        return _float_range if like.dtype.kind == "f" else _exact_range

    def clip(self, x, lo, hi):
        return np.clip(x, lo, hi)

    def log_softmax_finite(self, x, axis):
        shifted = _shifted(x, axis)
        if shifted.size:
            shifted -= np.log(np.add.reduce(np.exp(shifted), axis=axis, keepdims=True))
        return shifted

    def log_softmax_finite_at(self, x, index, axis):
        """(x_i - max) - log(sum(exp(x - max))) at the picked entries, as log_softmax_finite
        rounds them, holding one array of x's size (the exps, in place), not two."""
        shifted = _shifted(x, axis)
        picked = self.take_along_axis(shifted, index, axis)
        if shifted.size:
            np.exp(shifted, out=shifted)
            picked -= np.log(np.add.reduce(shifted, axis=axis, keepdims=True))
        return picked

    def softmax_finite(self, x, axis):
        p = _shifted(x, axis)
        np.exp(p, out=p)  # in place: one array of x's size, not two
        if p.size:
            p /= np.add.reduce(p, axis=axis, keepdims=True)
        return p

    def sigmoid(self, x):
        """1 / (1 + e) where x >= 0, else e / (1 + e), with e = exp(-|x|): nothing overflows or
        cancels, in two arrays (exp(log_sigmoid(x)) took six passes: Dice with sigmoid ran at
        3.8-5x NumPy's 1 / (1 + exp(-x)), which overflows and warns; now 1.07x its time)."""
        if np.ndim(x) == 0:  # a ufunc of a 0-d array returns a scalar, which takes no out=
            return self.sigmoid(np.reshape(x, (1,)))[0]
        e = np.abs(x)
        np.negative(e, out=e)
        np.exp(e, out=e)
        denominator = e + 1.0
        np.maximum(e, x >= 0, out=e)  # the numerator: 1 where x >= 0 (e <= 1), NaN stays (np.where: 10x slower)
        e /= denominator
        return e

    def contract(self, a, b, axis):
        """einsum contracts without the a * b temporary: 2-4x faster than multiply-and-sum."""
        return np.einsum(self.contraction(a.ndim, axis), a, b)

    # (below: one op where no sum is wide; the base class's checks, and dtype.name, cost 15% of a 1e3 Dice)
    def sum_product(self, a, b, axis):
        if a.dtype.char != "f" or _values_per_result(a.shape, axis) < WIDE_SUMS_FROM:
            return np.einsum(self.contraction(a.ndim, axis), a, b)
        return super().sum_product(a, b, axis)

    def sum_over(self, x, axis):
        if x.dtype.char != "f" or _values_per_result(x.shape, axis) < WIDE_SUMS_FROM:
            return np.add.reduce(x, axis=axis)
        return super().sum_over(x, axis)

    def sum_float64(self, a, b, axis):
        """einsum casts in buffers: no float64 copy of the inputs (2-3x faster than a reduce
        with dtype=float64 along a strided axis)."""
        operands = (a,) if b is None else (a, b)
        return np.einsum(self.contraction(a.ndim, axis, len(operands)), *operands, dtype=np.float64)

    def bce_with_logits_exact(self, targets, logits, pos_weight, neg_weight=None):
        """Large inputs go in slices of _SLICE values (rows of the last axis where a weight has
        one per entry): a slice's temporaries stay in the cache and are heap memory, where
        whole ones would be mapped afresh from the OS and page-faulted on every call. At 1e7
        values the loss took 1.17-1.18x the NumPy one-liner's time unsliced, 0.75-0.76x sliced."""
        if np.ndim(logits) == 0:  # a ufunc of a 0-d array returns a scalar, which takes no out=
            return self.bce_with_logits_exact(np.reshape(targets, (1,)), np.reshape(logits, (1,)), pos_weight,
                                              neg_weight)[0]
        if logits.size < _SLICE_FROM or not (_c_order(logits) and _c_order(targets) and targets.shape == logits.shape):
            return _bce_with_logits(targets, logits, pos_weight, neg_weight)
        weights = [np.shape(w) for w in (pos_weight, neg_weight) if w is not None]
        if not all(weight in ((), (1,), logits.shape[-1:]) for weight in weights):
            return _bce_with_logits(targets, logits, pos_weight, neg_weight)  # e.g. a loss of one's own's per-row weight
        per_class = logits.shape[-1:] in weights and logits.shape[-1] > 1  # one weight per entry of the last axis
        width = logits.shape[-1] if per_class else 1
        shape = (-1, width) if per_class else (-1,)
        out = np.empty_like(logits)
        rows, x, y = np.reshape(out, shape), np.reshape(logits, shape), np.reshape(targets, shape)
        step = max(1, _SLICE // width)
        for start in range(0, len(x), step):
            part = slice(start, start + step)
            _bce_with_logits(y[part], x[part], pos_weight, neg_weight, rows[part])
        return out

    isinf = staticmethod(np.isinf)

    def differentiated(self, x):
        return False  # no autograd: the floored logs skip their slope guards

    def floored_log(self, p, known=None):
        if known is not None and known[0] > 0.0:  # no log of 0 (errstate alone costs 1.5 us)
            return super().floored_log(p, known)
        with np.errstate(divide="ignore"):  # log(0) = -inf, which the floor takes
            return super().floored_log(p, known)

    def floored_log1m(self, p, known=None):
        if known is not None and known[1] < 1.0:
            return super().floored_log1m(p, known)
        with np.errstate(divide="ignore"):
            return super().floored_log1m(p, known)

    def masked_fill_(self, t, mask, value):
        if _buffer(t) is None:
            return np.where(mask, value, t)
        np.putmask(t, mask, value)
        return t


def _c_order(x):
    return isinstance(x, np.ndarray) and x.flags.c_contiguous  # (reshaping another would copy)


def _bce_with_logits(targets, logits, pos_weight, neg_weight, out=None):
    # a softplus(-x) + b softplus(x) = (a + b) log1p(exp(-|x|)) + (b if x > 0 else a) |x|:
    # every term >= 0, so no cancellation (the fused torch/TF kernels have some), and exact for
    # every finite x. Without weights (a, b) = (y, 1 - y), and the linear term is
    # ((x > 0) - y) x: 8 passes over the data instead of 12 (1e5 float32 values: 202 -> 160 us,
    # bitwise the numbers of relu(x) = (|x| + x) / 2, which overflowed above finfo.max / 2).
    # Two float arrays and a mask, the result one of them (weights: two more): with four, 1e5
    # values called in a loop took 3.9x the one-liner's time, glibc handing their 1.6 MB back to
    # the OS and page-faulting it in again on every call.
    magnitude = np.abs(logits, out=out)
    if pos_weight is None and neg_weight is None:
        weight = None
        linear = np.subtract(logits > 0, targets)
        linear *= logits
    else:
        positive = targets if pos_weight is None else targets * pos_weight
        negative = 1.0 - targets if neg_weight is None else (1.0 - targets) * neg_weight
        linear = np.where(logits > 0, negative, positive)
        linear *= magnitude
        # a + b into b's array (made here), where their dtypes agree: one array fewer
        weight = np.add(negative, positive, out=negative if negative.dtype == positive.dtype else None)
    loss = np.negative(magnitude, out=magnitude)
    np.exp(loss, out=loss)
    np.log1p(loss, out=loss)
    if weight is not None:
        loss *= weight
    loss += linear
    return loss


def _bincount(ids, num_segments, weights=None):
    """np.bincount over ``num_segments``. An id outside them comes from a label out of range
    that nothing read (value_checks="never"), whose loss contract.label_guard makes NaN: it
    counts in segment 0 or is dropped, where NumPy would raise ValueError (a negative id) or
    lengthen the result."""
    try:
        return np.bincount(ids, weights, minlength=num_segments)[:num_segments]
    except ValueError:
        return np.bincount(np.maximum(ids, 0), weights, minlength=num_segments)[:num_segments]


# np.minimum.reduce: np.min's wrapper costs 1.7 us more
def _float_range(x):  # float() of a NumPy float: item() costs 0.9 us more, 20 times as much
    return float(np.minimum.reduce(x, axis=None)), float(np.maximum.reduce(x, axis=None))


# dtype -> the unsigned integers of its width (bool has no order to keep)
UNSIGNED = {np.dtype(name): np.dtype(f"uint{bits}") for bits in (8, 16, 32, 64)
             for name in (f"int{bits}", f"uint{bits}", *([f"float{bits}"] if bits >= 32 else []))}


def nonnegative_bound(x):
    """(0, max) of an array of values >= 0 from one reduction, not two (2.5 -> 1.0 us at 1e3
    float32 values, 7.7 -> 2.6 us at 1e5): read as unsigned integers of their width, the bit
    patterns of floats >= +0 and of integers >= 0 keep their order, and a sign bit (-0.0's
    too) makes a pattern above all of theirs; then the exact range. The 0 is a bound of the
    min (``Ops.range_reader``'s ``minimum=False``); a NaN is the largest pattern, a NaN max."""
    top = np.maximum.reduce(x.view(UNSIGNED[x.dtype]), axis=None)
    return bound_of_largest_pattern(top, x.dtype) or (_float_range(x) if x.dtype.kind == "f" else _exact_range(x))


def bound_of_largest_pattern(top, dtype):
    """(0, max) of values of ``dtype`` whose largest bit pattern, as an unsigned NumPy integer
    of their width, is ``top``; None where that has a sign bit (a negative value or -0.0)."""
    if dtype.kind == "u":
        return 0, int(top)
    if top >> (8 * top.itemsize - 1):
        return None
    value = top.view(dtype)
    return (0.0, float(value)) if dtype.kind == "f" else (0, int(value))


def _exact_range(x):  # item(): integers stay exact (a message shows them)
    return np.minimum.reduce(x, axis=None).item(), np.maximum.reduce(x, axis=None).item()


OPS = NumpyOps()


# 0 * inf at an infinite logit, a sum past finfo.max of finite ones: a valid input gets no
# warning. At 1e3 values 16.2-17.6 us -> 14.2-14.3 us (the one-liner: ~10.4 us): two
# reductions and the generic path's calls fewer.
NATIVE = {"binary_crossentropy": bce_from_logits(OPS, lambda: np.errstate(invalid="ignore", over="ignore"))}
