"""The op table: the closed vocabulary that loss math is written in.

A backend subclasses ``Ops`` and implements the primitives (each a one-line call of the
framework). The derived ops below are written once, here, from the primitives; a backend
may replace one with a native kernel only where the kernel computes the same thing,
including at +-inf (the conformance tests run both).

Arithmetic and comparisons use Python operators on tensors, which all frameworks share.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .errors import bad_type
from .spec import LOG_FLOOR

_BELOW_FLOOR = 3.7e-44  # < exp(LOG_FLOOR) = 3.72e-44 in float64 and as a float32 subnormal
# Probabilities from here up never meet the floor (log > -87.4), and are normal in float32:
# TensorFlow's CPU kernels read float32 subnormals as 0 (its log of one gives -103.97).
ABOVE_FLOOR = 1.2e-38
# Logits within +-finfo.max / 32 take the kernels directly; the guarded path (a clamp at
# +-finfo.max / 4, entries at or below -finfo.max / 8 read as -inf) gives the same numbers there.
_FINITE = 1 / 32
_LOST = 0.125
WIDE_SUMS_FROM = 1 << 7  # see Ops.sums_wide
SUM_BLOCK = 16  # slabs of a summed axis that the first pass of a wide sum adds (Ops.sum_over)
_FLOAT32_MAX = 3.4028234663852886e38  # the smallest range a loss computes in (float16 is computed in float32)
_FINITE_BOUNDS: dict = {}  # a framework's dtype object -> _FINITE * its finfo.max


_PYTHON_NUMBERS = (float, int, bool)


def refuse_two_numbers(a, b) -> None:
    """``Ops.where``'s a and b may not both be Python numbers: no tensor gives the result's dtype."""
    if type(a) in _PYTHON_NUMBERS and type(b) in _PYTHON_NUMBERS:  # (not NumPy's 0-d results, which have a dtype)
        raise bad_type("ops.where", "a, b", "a tensor among them (a Python number takes the other's dtype; e.g. "
                       "where(c, ops.ones_like(x) * 0.1, 0.3))", f"two Python numbers, {a!r} and {b!r}")


class Ops:
    name: str = "abstract"
    tensor_types: tuple = ()  # the framework's tensor classes
    refusals: tuple = (IndexError, RuntimeError)  # what its ops raise where their own check refuses a value

    # ---- primitives: tensors ------------------------------------------------------------
    def is_tensor(self, x) -> bool: return isinstance(x, self.tensor_types)
    def asarray(self, x, like=None, dtype=None): raise NotImplementedError
    def on_device_of(self, x, like):
        """Tensor x where ``like`` lives, or None where that would be a copy the caller did not
        ask for (a framework that places tensors itself returns x)."""
        return x
    def device_mismatch(self, x, like):
        """A description of x's device where it is not ``like``'s and the framework would not
        move it, else None."""
        return None
    def dtype_name(self, x) -> str: raise NotImplementedError  # "float32", "int64", "bool", ...
    def current(self, x):
        """x as a tensor of its own shape (an eager tf.Variable's is the one declared, which
        may leave sizes unknown, as a graph's do); x itself on most backends."""
        return x
    def unfit(self, x):
        """What makes tensor x unfit for a loss (a sparse layout), described for an error; None if nothing."""
        return None
    def cast(self, x, dtype: str): raise NotImplementedError
    def shape(self, x) -> tuple: raise NotImplementedError  # ints; unknown graph dims as scalar tensors
    def static_shape(self, x) -> tuple: return self.shape(x)  # None where a size (or the rank) is unknown
    def size(self, x): raise NotImplementedError  # element count: an int, or a scalar tensor if unknown
    def length(self, x, axis: int): return self.shape(x)[axis]  # one axis's size, as shape gives it
    def traced_size(self, x): return self.size(x)  # size in a trace: a tensor where the graph must follow x's shape
    def reshape(self, x, shape): raise NotImplementedError
    def finfo_max(self, dtype: str) -> float: raise NotImplementedError
    def stop_gradient(self, x): return x  # x's values, with no derivative flowing back through it
    def differentiated(self, x) -> bool:
        """A derivative in x may be taken from here (autograd records x, forward mode, a
        transform, a graph): where not, guards that only shape a slope are skipped."""
        return True

    # ---- primitives: math ---------------------------------------------------------------
    def sum(self, x, axis=None, keepdims=False): raise NotImplementedError
    def mean(self, x, axis=None, keepdims=False): raise NotImplementedError
    def any(self, x, axis=None): raise NotImplementedError
    def where(self, condition, a, b): raise NotImplementedError  # a or b may be a Python number (not both)
    def maximum(self, x, y): raise NotImplementedError
    def minimum(self, x, y): raise NotImplementedError
    def abs(self, x): raise NotImplementedError
    def square(self, x): raise NotImplementedError
    def exp(self, x): raise NotImplementedError
    def log(self, x): raise NotImplementedError
    def log1p(self, x): raise NotImplementedError
    def clip(self, x, lo: float, hi: float): raise NotImplementedError
    def scalar(self, k: float, like): return k  # a Python number for arithmetic with ``like`` (a backend may cache it as a tensor)
    def div(self, x, d: float): return x / self.scalar(d, x)
    def representable(self, k: float, dtype: str) -> float:
        """k, or the largest finite number of ``dtype`` where k is beyond it: a parameter of
        1e39 is inf in float32, and inf * 0 is NaN where the exact result is a number."""
        if -_FLOAT32_MAX <= k <= _FLOAT32_MAX:  # fits every compute dtype
            return k
        bound = self.finfo_max(dtype)
        return max(-bound, min(k, bound))
    def affine(self, x, a: float, b: float):  # a x + b for Python numbers a, b (one pass where fused)
        offset = self.scalar(b, x)
        return x + offset if a == 1 else offset - x if a == -1 else self.scalar(a, x) * x + offset
    def add_multiple(self, x, y, a: float):  # x + a y for a Python number a (one pass where fused)
        return x + self.scalar(a, y) * y
    def log_softmax_finite(self, x, axis: int): raise NotImplementedError  # exact for finite x only
    def softmax_finite(self, x, axis: int):  # exact for finite x only; a native kernel holds one array, not two
        return self.exp(self.log_softmax_finite(x, axis))
    def log_softmax_finite_at(self, x, index, axis: int):  # log_softmax_finite(x) at index; a backend may hold less
        return self.take_along_axis(self.log_softmax_finite(x, axis), index, axis)
    def bce_with_logits_finite(self, targets, logits, pos_weight, neg_weight=None):
        """BCE with logits for finite x in the backend's fastest form: ``bce_with_logits_exact``
        here; torch's fused kernel, ``bce_with_logits_as_torch``, on torch (docs/semantics.md)."""
        return self.bce_with_logits_exact(targets, logits, pos_weight, neg_weight)
    def bce_with_logits_exact(self, targets, logits, pos_weight, neg_weight=None):
        """-[w y log_sigmoid(x) + v (1 - y) log_sigmoid(-x)] for finite x (w: pos_weight, v:
        neg_weight, or 1); both terms >= 0, so nothing cancels (TensorFlow's kernel, unweighted)."""
        positive = targets if pos_weight is None else targets * pos_weight
        negative = 1.0 - targets if neg_weight is None else (1.0 - targets) * neg_weight
        return -(positive * self.log_sigmoid(logits) + negative * self.log_sigmoid(-logits))
    def bce_with_logits_as_torch(self, targets, logits, pos_weight):
        """(1 - y) x - (1 + (w - 1) y) log_sigmoid(x) for finite x (w: pos_weight, or 1), the form of
        torch's binary_cross_entropy_with_logits (bit for bit on torch's CPU kernel): a hard
        target's small term cancels (y = 0 at x = -16 gives 0 in float32 for 1.1e-7), so only its
        log_sigmoid's rounding gives torch's numbers: min(x, 0) - log1p(exp(-|x|)), as torch's
        (TensorFlow's kernel drops log1p(exp(-|x|)) from |x| > 13.9 in float32: 0 at x = -14 for 9.5e-7)."""
        weight = 1.0 if pos_weight is None else self.affine(targets * (pos_weight - 1.0), 1.0, 1.0)
        return self.affine(targets, -1.0, 1.0) * logits - weight * Ops.log_sigmoid(self, logits)
    def isinf(self, x): raise NotImplementedError
    def take_along_axis(self, x, index, axis: int): raise NotImplementedError  # index: size 1 along axis, or 1-D x
    def take_labels(self, x, labels, axis: int):
        """x's entry at each label's class along ``axis`` (labels: x's shape without that axis),
        flattened to 1-D in the labels' order."""
        shape = self.shape(x)
        axis %= len(shape)
        return self.reshape(self.take_along_axis(x, self.reshape(labels, size1_shape(shape, axis)), axis), (-1,))
    def gathers_check_bounds(self, like) -> bool:
        """take_along_axis on tensors like ``like`` raises IndexError or RuntimeError at an index
        outside the axis (NumPy's would wrap a negative one; gathers at flat positions never raise)."""
        return False
    def gathers_fail_out_of_range(self, like) -> bool:
        """A gather at an index outside the axis stops the program (an error or a device
        assert) on tensors like ``like``, traced or not. False where it may give a number:
        XLA clamps the index, TensorFlow's GPU gather gives 0, NumPy wraps a negative one."""
        return False
    def arange(self, n: int, like): raise NotImplementedError  # int64 0..n-1 on like's device
    def sample_offsets(self, batch: int, step: int, rank: int, like):
        """b * step for each sample b, shaped (batch, 1, ..., 1) to rank ``rank`` (int64): the
        first id of each sample's segments. A backend may keep it between calls."""
        return self.reshape(self.arange(batch, like) * step, (batch,) + (1,) * (rank - 1))
    def ones_like(self, x): raise NotImplementedError
    def segment_sum(self, values, ids, num_segments: int, most=None):
        """out[k] = sum of values[i] over i with ids[i] == k (1-D inputs); never a dense one-hot.
        ``most``: how many values one segment can gather at the most (None: any number), which
        decides whether a float32 sum adds in float64 (``sums_wide``)."""
        raise NotImplementedError
    def sums_wide(self, dtype: str, size) -> bool:
        """A segment sum of ``size`` values (None: unknown) accumulates in float64, and so does a
        ``sum_over`` of ``size`` values into each result: one adding a value at a time drifts
        in float32 (2e-5 at 2^22 random values, 6e-5 at 4095 equal ones) and stops growing at
        2^24. Below 2^7 values the drift is under 1.9e-6 (Dice of equal values there can pass
        the parity report's float32 tolerance by 1.6 times: a recorded divergence)."""
        return dtype == "float32" and (size is None or size >= WIDE_SUMS_FROM)

    def segment_count(self, ids, num_segments: int, like, most=None):
        """out[k] = the number of i with ids[i] == k (1-D ids), in ``like``'s dtype; no gradient."""
        return self.segment_sum(self.ones_like(like), ids, num_segments, most)

    def label_sums(self, x, labels, axis: int, classes: int, ignored=None, most=None):
        """(S, N), each (batch, classes), for integer labels of x's shape without ``axis``:
        S[b, c] = sum of x[b, ..., c, ...] over the positions of sample b labelled c, N[b, c]
        = how many positions are labelled c. Positions ``ignored`` (a boolean mask of the
        labels' shape) count in neither; the label there may be anything. ``most``: as in
        ``segment_sum``. Here a gather and segment sums over (sample, class): no dense one-hot."""
        shape = self.shape(x)
        kept = None
        if ignored is not None:
            labels = self.where(ignored, 0, labels)
            kept = self.reshape(1.0 - self.cast(ignored, self.dtype_name(x)), (-1,))
        picked = self.take_labels(x, labels, axis)
        segments = self.reshape(labels + self.sample_offsets(shape[0], classes, len(shape) - 1, x), (-1,))
        size = shape[0] * classes
        if kept is None:
            counts = self.segment_count(segments, size, picked, most)
        else:
            picked = picked * kept
            counts = self.segment_sum(kept, segments, size, most)
        sums = self.segment_sum(picked, segments, size, most)
        return self.reshape(sums, (shape[0], classes)), self.reshape(counts, (shape[0], classes))

    # ---- primitives: host-side facts (never read device memory) -------------------------
    def default_float(self) -> str:
        """The dtype this framework gives Python floats (``np.asarray``'s, ``torch.tensor``'s,
        ``tf.constant``'s)."""
        return "float64"

    def signature(self, y_true, y_pred):
        """A hashable key of both inputs' shapes, dtypes and device; None inside a trace (where
        shapes may be symbolic and constants are graph-local: nothing is reused there) and
        inside a function transform that wraps the tensors it makes (torch.func)."""
        raise NotImplementedError

    def matcher(self, y_true, y_pred):
        """A function (y_true, y_pred) -> True where both have the shapes, dtypes and device
        (and exact types) of these two: what ``signature`` keys, tested without building a
        key (never asked in a trace). None where the backend has none."""
        return None

    def readable(self, y_true, y_pred) -> bool:
        """Whether a call on these inputs may read values back at all (torch: not where
        torch.func.vmap batches an input; the result it enters is batched too)."""
        return True

    def number(self, x) -> float:  # a one-value tensor as a Python number (a host read)
        return float(x)

    def range_reader(self, like, force: bool = False, nonnegative: bool = False, minimum: bool = True):
        """A function x -> (min, max) as Python numbers, for tensors like ``like`` (its device,
        dtype and size), or None where reading them would cost a device sync.

        ``force`` reads eager accelerator tensors too; traced, meta and empty tensors give
        None. ``nonnegative``: the values should be >= 0 (probabilities), which a backend may
        read faster; the range read is the same either way. With ``minimum=False`` too, no one
        uses the min: where no value is negative a backend may give 0 for it (a bound; the
        max stays exact), and the exact range elsewhere. Chosen once per input signature, so
        that a call only reads.
        """
        raise NotImplementedError

    def min_reader(self, like, force: bool = False):
        """A function x -> min(x) as a Python number, where ``range_reader`` gives one (a
        backend may read one bound for less than both)."""
        read = self.range_reader(like, force)
        return read and (lambda x: read(x)[0])

    # ---- reuse of temporaries -----------------------------------------------------------
    # ``t`` is a temporary the formula has just created and reads nowhere else. A backend may
    # overwrite it (NumPy always, torch while autograd does not record it), saving a fresh
    # allocation, which costs more than the arithmetic on large inputs. By default they allocate.
    def log_(self, t): return self.log(t)
    def abs_(self, t): return self.abs(t)
    def square_(self, t): return self.square(t)
    def maximum_(self, t, y): return self.maximum(t, y)
    def mul_(self, t, y): return t * y
    def add_(self, t, y): return t + y
    def sub_(self, t, y): return t - y
    def masked_fill_(self, t, mask, value): return self.where(mask, value, t)
    def filled_at_or_below_(self, t, threshold: float, value: float):  # value where t <= threshold; NaN stays
        return self.masked_fill_(t, t <= threshold, value)

    # ---- derived ops (one definition; native overrides must match at +-inf) ------------
    # ``known``: (min, max) of the input where the value checks read it, else None. Where it
    # shows that a guard cannot change the result, the guard is skipped: same values, fewer passes.
    def log_sigmoid(self, x):
        """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)); 0 at +inf, -inf at -inf."""
        return self.minimum(x, 0.0) - self.log1p(self.exp(-self.abs(x)))

    def sigmoid(self, x):
        return self.exp(self.log_sigmoid(x))

    def log_softmax(self, x, axis: int, known=None):
        """x - logsumexp(x) along ``axis``, with the limits at infinite logits.

        Frameworks' log-softmax kernels are NaN at +inf and on rows of all -inf, and so are
        their gradients. They run on logits clamped to +-finfo.max / 4 (so x - max cannot
        overflow): k tied +inf entries give -log k, a row of all -inf the uniform -log C, and
        an entry whose true value is -inf comes out below -finfo.max / 8 and is set back to
        -inf. Where the finite logits lie within +-finfo.max / 32, every entry whose true value
        is finite comes out as the kernel gives it (above -finfo.max / 8); beyond that range a clamped logit or a
        spread over finfo.max / 8 reads as infinite, on every path alike. Logits ``known`` to be
        within +-finfo.max / 32 need neither step.
        """
        if self.finite_logits(x, known):
            return self.log_softmax_finite(x, axis)
        return self._minus_inf_restored(self.log_softmax_finite(self._clamped(x), axis))

    def log_softmax_at(self, x, index, axis: int, known=None):
        """log_softmax(x) taken at ``index`` along ``axis``: the restore runs on the gathered entries only."""
        if self.finite_logits(x, known):
            return self.log_softmax_finite_at(x, index, axis)
        return self._minus_inf_restored(self.log_softmax_finite_at(self._clamped(x), index, axis))

    def weighted_log_softmax_sum(self, weights, x, axis: int, known=None):
        """sum over ``axis`` of w_c log_softmax(x)_c for weights w >= 0 (a zero weight adds 0).

        Multiplies the finite log-probabilities of the clamped logits (see ``log_softmax``), so
        0 * -inf never arises, and marks -inf only the rows where a positive weight meets a
        class whose log-probability is -inf: cheaper than restoring every entry.
        """
        if self.finite_logits(x, known):  # every log-probability is finite
            return self.sum(self.mul_(self.log_softmax_finite(x, axis), weights), axis=axis)
        log_q = self.log_softmax_finite(self._clamped(x), axis)
        lost = self.any((log_q <= self._lost_below(log_q)) & (weights > 0), axis)
        return self.masked_fill_(self.sum(self.mul_(log_q, weights), axis=axis), lost, -math.inf)

    def finite_logits(self, x, known) -> bool:
        """x is known to lie within +-finfo.max / 32: the kernels alone give the guarded path's numbers."""
        if known is None:
            return False
        bound = _FINITE_BOUNDS.get(x.dtype)
        if bound is None:  # torch.finfo per call costs more than the comparison
            bound = _FINITE_BOUNDS[x.dtype] = _FINITE * self.finfo_max(self.dtype_name(x))
        return -known[0] < bound > known[1]

    def _clamped(self, x):
        bound = 0.25 * self.finfo_max(self.dtype_name(x))
        return self.clip(x, -bound, bound)

    def _lost_below(self, log_q) -> float:
        """Entries of a clamped log-softmax at or below this have the true value -inf."""
        return -_LOST * self.finfo_max(self.dtype_name(log_q))

    def _minus_inf_restored(self, log_q):
        return self.filled_at_or_below_(log_q, self._lost_below(log_q), -math.inf)

    def softmax(self, x, axis: int, known=None):
        """The softmax of the clamped logits (see ``log_softmax``): exact, since the exp of an
        entry near -finfo.max / 4 is 0, k tied +inf entries get 1/k each, a row of all -inf 1/C."""
        return self.softmax_finite(x if self.finite_logits(x, known) else self._clamped(x), axis)

    def bce_with_logits(self, targets, logits, pos_weight=None, known=None, neg_weight=None, form=None):
        """-[w y log_sigmoid(x) + v (1 - y) log_sigmoid(-x)] with the limits at infinite logits,
        computed by ``form`` for finite logits (``bce_with_logits_finite`` unless given).

        Fused kernels are NaN at +-inf. On logits clamped to +-finfo.max / 4 they give the
        limit where it is 0, and about weight * finfo.max / 4 where it is infinite (a positive
        term at an infinite logit): those entries are set to inf. The slope there is the
        clamp's, 0. ``known`` finite logits need neither step.
        """
        form = form or self.bce_with_logits_finite
        weights = (pos_weight,) if neg_weight is None else (pos_weight, neg_weight)
        if self.finite_logits(logits, known):
            return form(targets, logits, *weights)
        loss = form(targets, self._clamped(logits), *weights)
        return self.masked_fill_(loss, self.isinf(logits) & (loss > 0), math.inf)

    def sum_product(self, a, b, axis):
        """sum(a * b) over ``axis`` (a tuple of axes), a and b of one shape, as accurate as ``sum_over``."""
        return self._summed(a, b, axis)

    def sum_over(self, x, axis):
        """sum(x) over ``axis`` (a tuple of axes), to a few ulps whatever the layout.

        A sum along a strided axis adds one value at a time on NumPy and TensorFlow (torch's
        sums are cascaded): in float32 a constant 0.9 over 2048 x 2048 pixels with the class
        axis last came out 4e-2 too small. Where 2^7 values or more add into each result
        (``sums_wide``), a float32 sum takes two passes: first blocks of up to SUM_BLOCK slabs
        of one summed axis add in float32 (a vectorised add per slab; the partial sums are
        1/SUM_BLOCK of x), then the partial sums add in float64; sizes a graph leaves unknown
        add in float64 at once. Fewer values take one op (127 equal values: 1.9e-6 off)."""
        return self._summed(x, None, axis)

    def sum_is_wide(self, a, axis) -> bool:
        """A float32 sum of ``a`` over ``axis`` adds 2^7 values or more (or a number a graph
        leaves unknown) into each result: ``sums_wide`` of that count."""
        return self.sums_wide(self.dtype_name(a), values_per_result(self.static_shape(a), axis))

    def _summed(self, a, b, axis):
        if not self.sum_is_wide(a, axis):
            return self.sum(a, axis=axis) if b is None else self.contract(a, b, axis)
        shape = self.static_shape(a)
        split = None if shape is None or None in shape else _block_split(shape, axis)
        if split is None:  # sizes a graph leaves unknown, or no summed axis splits into blocks: one float64 sum
            return self.cast(self.sum_float64(a, b, axis), self.dtype_name(a))
        along, block = split
        dims = self.shape(a)
        blocked = dims[:along] + (block, shape[along] // block) + dims[along + 1:]
        a = self.reshape(a, blocked)
        partial = self.sum(a, axis=(along,)) if b is None else self.contract(a, self.reshape(b, blocked), (along,))
        return self.cast(self.sum_float64(partial, None, axis), self.dtype_name(partial))

    def sum_float64(self, a, b, axis):
        """sum(a) or sum(a * b) over ``axis``, accumulated in float64 (the result in float64)."""
        a = self.cast(a, "float64")
        return self.sum(a, axis=axis) if b is None else self.sum(a * self.cast(b, "float64"), axis=axis)

    def contract(self, a, b, axis):
        """sum(a * b) over ``axis`` in one op where the backend has one (einsum: no temporary)."""
        return self.sum(a * b, axis=axis)

    @staticmethod
    @functools.lru_cache(maxsize=64)
    def contraction(rank: int, axis: tuple, operands: int = 2) -> str:
        """The einsum subscripts of ``sum_product``: "abcd,abcd->ab" for rank 4, axis (2, 3)
        (of ``sum_over`` with one operand: "abcd->ab")."""
        letters = "abcdefghijklmnopqrstuvwxyz"[:rank]
        kept = "".join(c for i, c in enumerate(letters) if i not in axis)
        return f"{','.join([letters] * operands)}->{kept}"

    def floored_log(self, p, known=None):
        """max(log p, -100): the log of a probability, finite at p = 0, NaN at NaN.

        Where a slope may be taken, it is cut at p <= 3.7e-44 (just below e^-100), so that
        the floor's slope is 0 rather than 0/0 = NaN at p = 0: those entries reach the log
        through ``stop_gradient``, which leaves every value as it is. (Raising p to 3.7e-44
        instead fails where float32 subnormals read as 0: TensorFlow on CPU.) With p
        ``known`` to be at least ABOVE_FLOOR the floor never acts.
        """
        if known is not None and known[0] >= ABOVE_FLOOR:
            return self.log(p)
        if self.differentiated(p):
            return self.maximum_(self.log_(self.where(p <= _BELOW_FLOOR, self.stop_gradient(p), p)), LOG_FLOOR)
        return self.maximum_(self.log(p), LOG_FLOOR)

    def floored_log1m(self, p, known=None):
        """max(log(1 - p), -100) via log1p (exact for tiny p); -100 and, where a slope may be
        taken, a zero one at p = 1 (cut as in ``floored_log``). With p ``known`` below 1,
        1 - p is at least the spacing below 1, and log1p(-p) > -17 (float32)."""
        if known is not None and known[1] < 1.0:
            return self.log1p(-p)
        if self.differentiated(p):
            p = self.where(p >= 1.0, self.stop_gradient(p), p)
        return self.maximum_(self.log1p(-p), LOG_FLOOR)

    def with_slope_of(self, value, slope):
        """value's numbers with slope's derivatives (of every order): stop_gradient(value) +
        (slope - stop_gradient(slope)), which adds an exact 0 where slope is finite. For a
        value whose precise form differentiates with cancellation."""
        return self.stop_gradient(value) + (slope - self.stop_gradient(slope))

    def ratio_or_zero(self, a, b):
        """a / b, and 0 with zero slope where b == 0: a mean over nothing (all labels ignored,
        every class weight 0, an empty batch) is 0, whatever its sum."""
        empty = b == 0
        return self.where(empty, 0.0, a / self.where(empty, 1.0, b))

    def xlogy(self, x, y):
        """x log y, exactly 0 where x == 0 (at y = 0 too), as tf.math.xlogy (torch.xlogy: NaN at a NaN y)."""
        return x * self.log(self.where(x == 0, 1.0, y))

    def mul_no_nan(self, weight, value):
        """weight * value, exactly 0 where weight == 0 even if value is +-inf.

        Only an infinite value is replaced (a NaN stays NaN), so the slope in a zero weight
        stays ``value`` (a hard target's slope); the replacement precedes the product, whose
        gradient would otherwise be 0 * inf.
        """
        return weight * self.where(self.isinf(value) & (weight == 0), 0.0, value)


def values_per_result(shape, axis):
    """How many values a sum over ``axis`` adds into each result; None where ``shape`` (a static
    shape) leaves one of those sizes unknown."""
    sizes = None if shape is None else [shape[i] for i in axis]  # (a list: Dynamo traces no generator here)
    return None if sizes is None or None in sizes else math.prod(sizes)


def size1_shape(shape: tuple, axis: int) -> tuple:
    """``shape`` with the class axis ``axis`` (>= 0) of size 1: take_along_axis's index."""
    return shape[:axis] + (1,) + shape[axis + 1:]


def around_axis(shape: tuple, axis: int) -> tuple:
    """(outer, classes, inner): the sizes before, of and after the class axis."""
    axis %= len(shape)
    return math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:])


@functools.lru_cache(maxsize=16)
def class_zero_positions(outer: int, classes: int, inner: int) -> np.ndarray:
    """Flat positions of class 0 in a C-ordered array of shape (outer, classes, inner), as an
    (outer, inner) int64 array: label k of a cell sits at position + k * inner. Gathering
    there is 2.5-4x faster than NumPy's take_along_axis (index grids) or TF's (transposes)."""
    positions = np.arange(outer, dtype=np.int64)[:, None] * (classes * inner) + np.arange(inner, dtype=np.int64)
    positions.flags.writeable = False  # shared by every call of this shape
    return positions


def _block_split(shape, axis):
    """(summed axis, block): the summed axis to view as (block, size / block) for the first
    pass of a wide sum, with the largest block up to SUM_BLOCK that divides it (the outermost
    axis among equals: its slabs are the longest runs); None where no axis splits."""
    splits = [(block, -i) for i in axis for block in range(2, SUM_BLOCK + 1) if shape[i] % block == 0]
    if not splits:
        return None
    block, along = max(splits)
    return -along, block
