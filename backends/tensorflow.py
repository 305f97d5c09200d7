"""TensorFlow backend: the op table on ``tf.Tensor`` (eager, ``tf.function`` and XLA).

TensorFlow's fused ``sigmoid_cross_entropy_with_logits`` returns NaN at infinite logits, so it
is the op table's primitive for finite logits and the generic formulas supply the limits;
reduced BCE with logits reads its one-number result instead of the logits (``NATIVE``, as
NumPy's).
"""
from __future__ import annotations

import functools
import math
import numbers

import numpy as np
import tensorflow as tf

from crossloss.backends.kernels import bce_from_logits
from crossloss.backends.numpy import UNSIGNED, bound_of_largest_pattern, nonnegative_bound
from crossloss.ops import Ops, around_axis, class_zero_positions, refuse_two_numbers


_BINCOUNT_FROM = 1 << 15  # values from which a weighted bincount beats unsorted_segment_sum (measured)
# Below these many values, NumPy reads a view of a host tensor's buffer for less than eager
# TF reductions take. Its min and max (1e3 values: 6 vs 140 us; 2^18 22 vs 117 us, 2^20 74
# vs 204 us; alone 2^22 too, 509 vs 605 us, but in a loss at 3e6 values a KL read on the
# host took 3-4% longer); its one max of the bit patterns (2^22 167 vs 231 us, 1e7 0.90 vs
# 0.81 ms; dense Dice at 3e6 values 11% faster, Dice with labels 3%). 2-core AMD EPYC.
_READ_ON_HOST_BELOW = 1 << 20
_BOUND_ON_HOST_BELOW = 1 << 22
_SIGNIFICAND_BITS = {tf.float32: 24, tf.float64: 53}  # integers up to 2^bits are exact
# label_sums masks the labels up to this many classes, where the mask's peak memory stays
# below the gather's (at 1e7 values 1.25x y_pred's bytes against 3.35x at 2 classes, 1.56x
# against 1.68x at 4, 1.60x against 1.01x at 6). In time (int8 comparisons) the mask is
# 0.62-0.64x of the gather at 4 classes, 0.70x at 6, 0.93-0.96x at 8 (1e5 and 1e7 values).
_MASKED_CLASSES = 4
_NARROW_COMPARISONS_FROM = 1 << 15  # (labels x classes) beyond which the mask compares int8 labels: below, the cast costs more
_PARTS_FROM = 1 << 20  # values from which log_softmax_finite_at goes a group of samples at a time
_COUNT_IN_BYTES_FROM = 1 << 20  # mask values from which label_sums counts in uint8 chunks: below, their fixed cost is more


try:  # whether an eager tape or forward accumulator records (any: one that watches nothing still does)
    from tensorflow.python.eager.record import could_possibly_record as _recording
except ImportError:  # where TensorFlow does not say: one may
    def _recording():
        return True


def _onednn_enabled() -> bool:
    """TensorFlow runs its oneDNN kernels: by default on x86 CPUs with AVX512_VNNI, AVX_VNNI,
    AVX512_BF16 or AMX (TF_ENABLE_ONEDNN_OPTS=0 turns them off); they change which
    contraction is faster."""
    try:
        from tensorflow.python.util import _pywrap_util_port
        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):  # a private module: a TensorFlow without it counts as without oneDNN
        return False


_ONEDNN = _onednn_enabled()


def _like(value, other):
    """A Python number as a constant of ``other``'s dtype (tf.where does not promote)."""
    return _scalar(value, other) if isinstance(value, numbers.Number) else value


class TensorflowOps(Ops):
    name = "tensorflow"

    tensor_types = (tf.Tensor, tf.Variable)
    refusals = (IndexError, RuntimeError, tf.errors.InvalidArgumentError)  # (a gather's index out of range)

    def current(self, x):  # (its value: a read that a tape records, as Keras reads its variables)
        return x.value() if isinstance(x, tf.Variable) and tf.executing_eagerly() else x

    def default_float(self):
        return "float32"

    def asarray(self, x, like=None, dtype=None):
        device = getattr(like, "device", "") if isinstance(like, (tf.Tensor, tf.Variable)) else ""
        if device and tf.executing_eagerly():
            with tf.device(device):
                return tf.convert_to_tensor(x, dtype=dtype)
        return tf.convert_to_tensor(x, dtype=dtype)

    def dtype_name(self, x):
        return x.dtype.name

    def cast(self, x, dtype):
        return tf.cast(x, dtype)

    def shape(self, x):
        static = x.shape.as_list()
        if None not in static:
            return tuple(static)
        dynamic = tf.shape(x, out_type=tf.int64)  # unknown in a graph (Keras's batch axis): a tensor
        return tuple(dynamic[i] if d is None else d for i, d in enumerate(static))

    def static_shape(self, x):
        return None if x.shape.rank is None else tuple(x.shape.as_list())

    def size(self, x):
        known = x.shape.num_elements()
        return known if known is not None else tf.size(x, out_type=tf.int64)

    def reshape(self, x, shape):
        return tf.reshape(x, _dims(shape))

    def finfo_max(self, dtype):
        return float(tf.as_dtype(dtype).max)

    def sum(self, x, axis=None, keepdims=False):
        return tf.reduce_sum(x, axis=_axes(x, axis), keepdims=keepdims)

    def mean(self, x, axis=None, keepdims=False):
        return tf.reduce_mean(x, axis=_axes(x, axis), keepdims=keepdims)

    def any(self, x, axis=None):
        return tf.reduce_any(x, axis=_axes(x, axis))

    def where(self, condition, a, b):
        refuse_two_numbers(a, b)
        a, b = _like(a, b), _like(b, a)
        return tf.where(condition, a, b)

    def maximum(self, x, y):
        return tf.maximum(x, _like(y, x))

    def minimum(self, x, y):
        return tf.minimum(x, _like(y, x))

    abs = staticmethod(tf.abs)
    square = staticmethod(tf.square)
    exp = staticmethod(tf.exp)
    log = staticmethod(tf.math.log)
    xlogy = staticmethod(tf.math.xlogy)
    log1p = staticmethod(tf.math.log1p)
    sigmoid = staticmethod(tf.sigmoid)             # exact at +-inf
    log_sigmoid = staticmethod(tf.math.log_sigmoid)  # -softplus(-x): 0 and -inf at +-inf

    ones_like = staticmethod(tf.ones_like)

    def arange(self, n, like):
        if isinstance(n, int) and tf.executing_eagerly():
            return _cached_range(n)
        return tf.range(n, dtype=tf.int64)

    def sample_offsets(self, batch, step, rank, like):
        if isinstance(batch, int) and tf.executing_eagerly():  # two eager ops fewer a call
            return _cached_offsets(self, batch, step, rank)
        return super().sample_offsets(batch, step, rank, like)

    def scalar(self, k, like):
        return _scalar(k, like)

    def clip(self, x, lo, hi):
        return tf.clip_by_value(x, _like(lo, x), _like(hi, x))

    def log_softmax_finite(self, x, axis):
        """tf.nn's kernel over the last axis; over another, reductions along it (_along). Over
        axis 1, forward (with the gradient): 11.9 -> 6.5 ms (30.6 -> 18.1 ms) at (4, 21, 256,
        256), 15.0 -> 4.6 ms (30.9 -> 14.5 ms) at (16, 4, 256, 256); categorical CE from logits
        16.3 -> 11.0 ms (36.9 -> 23.7 ms) and 19.2 -> 8.3 ms (35.3 -> 17.3 ms); 2-core AMD EPYC."""
        return tf.nn.log_softmax(x, axis) if _last(x, axis) else _along(_log_softmax_and_slope, x, axis)

    def softmax_finite(self, x, axis):
        """As log_softmax_finite: 9.7 -> 6.3 ms (28.2 -> 18.4 ms) and 13.8 -> 4.2 ms (29.2 ->
        12.6 ms). Dice with softmax over axis 1: 14.3 -> 11.9 ms (55.9 -> 46.5 ms) and 20.7 ->
        10.3 ms (38.3 -> 21.8 ms)."""
        return tf.nn.softmax(x, axis) if _last(x, axis) else _along(_softmax_and_slope, x, axis)

    def log_softmax_finite_at(self, x, index, axis):
        """Over a class axis before the last, on eager host tensors of _PARTS_FROM values or
        more, a group of samples at a time: (x_i - max) - log(sum(exp(x - max))) reduced
        along the axis, with no transposes (see _along). Sparse CE from logits at
        (4, 21, 256, 256), axis 1: peak extra memory 2.52x -> 0.56x x's bytes, 6.43x -> 3.50x
        with the gradient (benchmarks/memory.py); 13.1 -> 9.3 ms, 46.5 -> 21.7 ms with the
        gradient (2-core AMD EPYC)."""
        parts = _sample_parts(x, axis)
        if parts is None:
            return super().log_softmax_finite_at(x, index, axis)
        # tf.split along axis 0 shares x's buffer where a sample's bytes are a multiple of 64
        # (split_op.cc), and its gradient is one concat: slicing would add one x-sized gradient a part
        return tf.concat([_shifted_log_softmax_at(self, part, at, axis)
                          for part, at in zip(tf.split(x, parts), tf.split(index, parts))], 0)

    isinf = staticmethod(tf.math.is_inf)
    stop_gradient = staticmethod(tf.stop_gradient)

    def differentiated(self, x):
        return not tf.executing_eagerly() or _recording()  # (a graph may be differentiated later)

    def bce_with_logits_exact(self, targets, logits, pos_weight, neg_weight=None):
        if pos_weight is None and neg_weight is None:
            return tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits)
        # not weighted_cross_entropy_with_logits: its gradient at a logit of 0 is wrong (it
        # differentiates relu(-x) and |x| there as 0; sigmoid_cross_entropy_with_logits does not)
        return super().bce_with_logits_exact(targets, logits, pos_weight, neg_weight)

    def take_along_axis(self, x, index, axis):
        """One entry per position (index has size 1 along ``axis``), by a gather: ~25x faster
        than tf.experimental.numpy.take_along_axis, whose transposes also copy x."""
        if x.shape.rank == 1:
            return tf.gather(x, index)
        return self.reshape(self.take_labels(x, index, axis), self.shape(index))

    def take_labels(self, x, labels, axis):
        """1-D throughout: Dice's labels take 3 eager ops (class axis last) or 5, not 8 as
        through take_along_axis's index and its result (an eager op is ~40-60 us on CPU)."""
        outer, classes, inner = around_axis(self.shape(x), axis)
        labels = self.reshape(labels, (-1,))
        if isinstance(inner, int) and inner == 1:  # class axis last: a batched gather
            return tf.gather(self.reshape(x, (outer, classes)), labels, batch_dims=1)
        # at flat positions: class 0's in each (outer, inner) cell, plus label * inner
        return tf.gather(self.reshape(x, (-1,)), _class_zero_positions(outer, classes, inner) + labels * inner)

    def label_sums(self, x, labels, axis, classes, ignored=None, most=None):
        """Up to _MASKED_CLASSES classes on an axis before the summed ones (channels-first), a
        mask of the labels against each class picks x's entries, and sums over the trailing
        axes count and add them: at 2 classes 0.35x the time of the gather and segment sums
        (TensorFlow's CPU gather takes ~3 ns a value) from 1e5 values to 1e7, at 4 classes
        0.6x. Its peak, the mask and one array of x's size at a time, is 1.25x x's bytes at 1e7
        values and 2 classes, 1.56x at 4, against 3.35x and 1.68x for the int64 positions and
        segments (the BFC allocator's count). With more classes the gather holds less (see
        _MASKED_CLASSES), and with the class axis last (sums over leading axes take two
        passes) it is the faster."""
        spatial = tuple(i for i in range(1, x.shape.rank) if i != axis)
        if classes > _MASKED_CLASSES or not spatial or not _trailing(x, spatial):
            return super().label_sums(x, labels, axis, classes, ignored, most)
        mask = _label_mask(labels, axis, classes, x.shape.rank)
        if ignored is not None:
            mask = tf.logical_and(mask, tf.expand_dims(tf.logical_not(ignored), axis))
        counts = _count_true(mask, spatial)
        counts = self.sum_over(tf.cast(mask, x.dtype), spatial) if counts is None else tf.cast(counts, x.dtype)
        return self.sum_over(self.where(mask, x, 0.0), spatial), counts

    def contract(self, a, b, axis):
        """einsum contracts without the a * b temporary: without oneDNN 2x faster at 1e5 values,
        4.5x at 1e7. Under oneDNN it is the slower (1.4x at 1e5, 1.6x at 1e7 on a Zen 4) and
        the multiply the faster (2.7x at 1e7): there a * b is reduced (each sum exact to a few ulps)."""
        if _ONEDNN:
            return super().contract(a, b, axis)
        return tf.einsum(self.contraction(a.shape.rank, axis), a, b)

    def sum_over(self, x, axis):
        """Over trailing axes (a class axis before them, or none) TensorFlow's inner reductions
        are accurate over a row (2.6e-6 for 1e6 equal float32 values over two axes): the last
        axis adds in float32 and the rest in float64. That is faster than the base class's
        two passes (3.9x Keras's Dice at 1e7, where an axis of 1581 splits in blocks of 3
        only), which take the strided layouts, where TensorFlow adds one value at a time."""
        if not _trailing(x, axis):
            return super().sum_over(x, axis)
        if not self.sum_is_wide(x, axis):
            return self.sum(x, axis)
        return _rows_in_float64(tf.reduce_sum(x, axis[-1]), axis[:-1])

    def sum_product(self, a, b, axis):
        """Over trailing axes: einsum's sums of the last axis's rows, then the rest in float64.
        einsum adds one value at a time (a recorded divergence, docs/semantics.md: 1e-5 for
        rows of 1024 equal values); multiplying first and reducing is exact to 2e-6 but took
        twice the time (1.1x Keras's Dice at 1e7 against 0.54x). Over one axis, where a row
        is all of it, that is the way."""
        if not _trailing(a, axis):
            return super().sum_product(a, b, axis)
        if not self.sum_is_wide(a, axis):
            return self.contract(a, b, axis)
        if len(axis) == 1:
            return self.sum(a * b, axis)
        return _rows_in_float64(self.contract(a, b, axis[-1:]), axis[:-1])

    def segment_sum(self, values, ids, num_segments, most=None):
        """On CPU unsorted_segment_sum slows to ~15 ns a value beyond ~3e4 values; a weighted
        DenseBincount takes ~1 ns plus ~0.3 ms a call with its gradient (75 vs 5 ms for 5e6
        values). It has no registered gradient, so the segment sum's own (a gather) is given."""
        known = values.shape.num_elements()
        wide = tf.float64 if self.sums_wide(values.dtype.name, known if most is None else most) else values.dtype
        if known is not None and known < _BINCOUNT_FROM:
            return tf.cast(tf.math.unsorted_segment_sum(tf.cast(values, wide), ids, num_segments), values.dtype)
        size = _segment_size(num_segments, ids)

        @tf.custom_gradient
        def summed(values):
            out = tf.raw_ops.DenseBincount(input=ids, size=size, weights=values, binary_output=False)
            return out, lambda upstream: tf.gather(upstream, ids)
        return tf.cast(summed(tf.cast(values, wide)), values.dtype)

    def segment_count(self, ids, num_segments, like, most=None):
        """One DenseBincount with empty weights: 23 against 64 us for ones and a segment sum at
        242 ids, 2 against 38 ms at 2.5e6. It counts in the weights' dtype: ``like``'s where
        that is exact (float32 stops at 2^24), which saves the cast of int64 counts."""
        bits = _SIGNIFICAND_BITS.get(like.dtype)
        exact = bits is not None and most is not None and most <= 1 << bits
        counts = tf.raw_ops.DenseBincount(input=ids, size=_segment_size(num_segments, ids),
                                          weights=_empty(like.dtype if exact else tf.int64), binary_output=False)
        return counts if exact else tf.cast(counts, like.dtype)

    def signature(self, y_true, y_pred):
        if not tf.executing_eagerly():
            return None
        return ("tensorflow", y_true.shape, y_true.dtype, y_true.device, y_pred.shape, y_pred.dtype, y_pred.device)

    def range_reader(self, like, force=False, nonnegative=False, minimum=True):
        size = like.shape.num_elements()
        if not tf.executing_eagerly() or not size:  # None: an unknown size in a graph
            return None
        on_host = _on_host(like)
        if not (on_host or force):
            return None
        if nonnegative and not minimum and like.dtype in _UNSIGNED:
            return _host_bound if on_host and size < _BOUND_ON_HOST_BELOW else _device_bound
        return _host_range if on_host and size < _READ_ON_HOST_BELOW else _device_range


# (item(): integers stay exact, as an error message shows them)
def _host_range(x):
    values = _host_values(x)
    return values.min().item(), values.max().item()


def _host_values(x):
    """A host tensor's values as a NumPy array: a view of its buffer where it exports one
    (.numpy() copies: a range read at 1e5 float32 values 15.4 -> 9.3 us, int64 labels 28.5
    -> 17.8 us); a tf.Variable exports none, nor does bfloat16 (no buffer format)."""
    try:
        return np.asarray(memoryview(x))
    except (TypeError, ValueError):
        return x.numpy()


def _device_range(x):
    if x.dtype == tf.bool:
        x = tf.cast(x, tf.uint8)
    return tf.reduce_min(x).numpy().item(), tf.reduce_max(x).numpy().item()


# Values >= 0 whose min no one uses: one reduction of the bit patterns as unsigned integers
# (nonnegative_bound): 1.83 -> 1.02 ms at 1e7 float32 values on a 2-core AMD EPYC, and on
# the host 9.3 -> 4.4 us at 1e5.
_UNSIGNED = {tf.as_dtype(dtype): tf.as_dtype(unsigned) for dtype, unsigned in UNSIGNED.items()}


def _host_bound(x):
    return nonnegative_bound(_host_values(x))


def _device_bound(x):
    unsigned = _UNSIGNED[x.dtype]
    top = tf.reduce_max(x if x.dtype == unsigned else tf.bitcast(x, unsigned)).numpy()
    return bound_of_largest_pattern(top, np.dtype(x.dtype.as_numpy_dtype)) or _device_range(x)


def _rows_in_float64(rows, axis):
    return rows if not axis else tf.cast(tf.reduce_sum(tf.cast(rows, tf.float64), _axes(rows, axis)), rows.dtype)


def _sample_parts(x, axis):
    """Samples per part (a list for tf.split along axis 0) of about _PARTS_FROM values each,
    or None: a graph, a device, fewer values, one sample, or the class axis last or first."""
    rank, size = x.shape.rank, x.shape.num_elements()
    if not (tf.executing_eagerly() and _on_host(x)) or size is None or size < _PARTS_FROM or \
            axis % rank in (0, rank - 1) or x.shape[0] < 2:
        return None
    batch = x.shape[0]
    count = min(batch, -(-size // _PARTS_FROM))
    return [batch // count + (i < batch % count) for i in range(count)]


def _shifted_log_softmax_at(ops, x, index, axis):
    """log_softmax(x) at index along axis, as (x_i - max) - log(sum(exp(x - max))): the max
    is a constant to the gradient (the value does not depend on it), which is then
    one-hot(i) - softmax(x), as the kernel's."""
    shifted = x - tf.stop_gradient(tf.reduce_max(x, axis, keepdims=True))
    picked = ops.take_along_axis(shifted, index, axis)
    return picked - _log_sum_exp(shifted, axis)


def _last(x, axis) -> bool:
    rank = x.shape.rank
    return not rank or axis % rank == rank - 1  # (an unknown rank: tf.nn's kernel takes any axis)


def _along(softmax_and_slope, x, axis):
    """A softmax over an axis before the last, by reductions along it. tf.nn's kernels work
    over the last axis only: over another they swap it there and back, two transposes that
    take longer than the kernel (and build each permutation in six eager ops). The slope is
    given, as the kernels' is: through autodiff of the formula it took 1.3x the time and 1.2x
    the peak memory. It is made of differentiable ops, so second derivatives hold."""
    @tf.custom_gradient
    def along(x):
        return softmax_and_slope(x, tf.reduce_max(x, axis, keepdims=True), axis)
    return along(x)


def _softmax_and_slope(x, top, axis):
    """exp(x - max) / sum(exp(x - max)), and the slope y (g - sum(g y)). (x - max is not kept:
    it would be a third array of x's size beside the exp and y: Dice's peak 4.38x -> 2.61x.)"""
    exp = tf.exp(x - top)
    y = exp / tf.reduce_sum(exp, axis, keepdims=True)
    return y, lambda upstream: y * (upstream - tf.reduce_sum(upstream * y, axis, keepdims=True))


def _log_softmax_and_slope(x, top, axis):
    """(x - max) - log(sum(exp(x - max))), and the slope g - exp(y) sum(g)."""
    shifted = x - top
    y = shifted - _log_sum_exp(shifted, axis)
    return y, lambda upstream: upstream - tf.exp(y) * tf.reduce_sum(upstream, axis, keepdims=True)


def _log_sum_exp(shifted, axis):
    """log(sum(exp(x - max))) along ``axis``, kept as a size-1 axis: x - max is at most 0, so nothing overflows."""
    return tf.math.log(tf.reduce_sum(tf.exp(shifted), axis, keepdims=True))


def _trailing(x, axis) -> bool:
    rank = x.shape.rank
    return tuple(axis) == tuple(range(rank - len(axis), rank))


# An eager op given a Python tuple (a shape, axes) leaves TensorFlow's fast path and converts
# it: tf.reshape(x, (8, 121)) takes 113 us, 40 us with a constant (reduce_sum over a tuple of
# axes or over all axes: 137 or 68 us, 32 us). Eager calls reuse one constant per tuple.
def _dims(shape):
    if isinstance(shape, tuple) and tf.executing_eagerly() and all(type(d) is int for d in shape):
        return _constant(shape)
    return shape


def _axes(x, axis):
    if axis is None:
        axis = tuple(range(x.shape.rank)) if x.shape.rank is not None else None
    elif not isinstance(axis, tuple):
        return axis  # one axis, an int: the fast path takes it
    return _dims(axis)  # () too: an empty tuple leaves the fast path as well


@functools.lru_cache(maxsize=256)
def _constant(values: tuple):
    # int32 where it holds them: forward-mode AD (ForwardAccumulator) stitches axes as int32
    fits = all(-2 ** 31 <= v < 2 ** 31 for v in values)
    return tf.constant(values, dtype=tf.int32 if fits else tf.int64)


def _scalar(value, like):
    """A Python number as a constant of ``like``'s dtype; eager host calls reuse one per
    number and dtype (converting a number costs 5-25 us of an eager op's 50-70 us)."""
    if tf.executing_eagerly() and _on_host(like):
        return _cached_scalar(value, math.copysign(1.0, value), like.dtype)  # the sign: 0.0 == -0.0 as keys
    return tf.constant(value, dtype=like.dtype)


def _on_host(x) -> bool:
    return "GPU" not in x.device and "TPU" not in x.device


def _segment_size(num_segments, ids):
    """DenseBincount's size: a tensor of the ids' dtype (unknown in a graph with an unknown batch)."""
    return _scalar(num_segments, ids) if isinstance(num_segments, int) else tf.cast(num_segments, ids.dtype)


@functools.lru_cache(maxsize=16)
def _cached_range(n):
    return tf.range(n, dtype=tf.int64)


@functools.lru_cache(maxsize=16)
def _cached_offsets(ops, batch, step, rank):
    return Ops.sample_offsets(ops, batch, step, rank, None)  # (eager arange needs no like)


def _empty(dtype):
    return _cached_empty(dtype) if tf.executing_eagerly() else tf.zeros((0,), dtype)


@functools.lru_cache(maxsize=8)
def _cached_empty(dtype):
    return tf.zeros((0,), dtype)


@functools.lru_cache(maxsize=256)
def _cached_scalar(value, sign, dtype):
    return tf.constant(np.asarray(value, dtype.as_numpy_dtype))  # TF's own cache of Python numbers mixes up 0.0 and -0.0


def _label_mask(labels, axis, classes, rank):
    """labels == c for each class c along ``axis`` (a new one): bool, rank ``rank``. Many
    comparisons take int8 labels, faster with the cast (2.3 -> 0.97 ms for 2.5e6 labels of 4
    classes, 103 -> 48 us for 16200); a label beyond int8 wraps, but it was refused where
    labels are read, and where they are not (label_guard) it makes the loss NaN. (A function,
    so that the int8 copy is freed before the caller's next array.)"""
    size = labels.shape.num_elements()
    if size is None or size * classes > _NARROW_COMPARISONS_FROM:
        labels = tf.cast(labels, tf.int8)
    return tf.equal(tf.expand_dims(labels, axis), _class_ids(classes, rank, axis, labels.dtype))


def _count_true(mask, axes):
    """How many of ``mask`` are True over its trailing ``axes``, as int32, counted in bytes:
    uint8 sums of chunks of at most 255 values (none can wrap), then int32 sums of those. A
    quarter of the bytes of a float mask: 2.70 -> 1.17 ms for 4 x 2.5e6 values, 0.75 -> 0.48
    ms for 4 x 5e5 (2-core AMD EPYC). None (sum a float mask) below _COUNT_IN_BYTES_FROM
    values, where the uint8 sums' fixed cost is the more (83 -> 165 us at 1e5), where no
    chunk of 64 to 255 values divides the summed size (smaller chunks would leave the int32
    sums a large part of the work), and outside eager host calls: TensorFlow has no GPU
    kernel that sums uint8 (reduction_ops_sum.cc; it would run on the host), and a graph is
    traced before its device is known."""
    shape = mask.shape.as_list()
    if not (tf.executing_eagerly() and _on_host(mask)) or math.prod(shape) < _COUNT_IN_BYTES_FROM:
        return None
    lead, size = shape[:-len(axes)], math.prod(shape[-len(axes):])
    chunk = _chunk_dividing(size)
    if chunk is None:
        return None
    chunks = tf.reduce_sum(tf.reshape(tf.cast(mask, tf.uint8), _dims((*lead, size // chunk, chunk))), axis=-1)
    return tf.reduce_sum(tf.cast(chunks, tf.int32), axis=-1)


@functools.lru_cache(maxsize=64)
def _chunk_dividing(size):
    """The largest number of values from 64 to 255 that divides ``size``, or None."""
    return next((chunk for chunk in range(255, 63, -1) if size % chunk == 0), None)


def _class_ids(classes, rank, axis, dtype):
    """0 .. classes - 1 along ``axis`` of a rank-``rank`` shape of ones."""
    shape = tuple(classes if i == axis else 1 for i in range(rank))
    # (a constant, not tf.range: the CPU has no int8 range)
    return _cached_class_ids(shape, dtype) if tf.executing_eagerly() else _cached_class_ids.__wrapped__(shape, dtype)


@functools.lru_cache(maxsize=16)
def _cached_class_ids(shape, dtype):
    return tf.constant(np.arange(math.prod(shape)).reshape(shape), dtype=dtype)


def _class_zero_positions(outer, classes, inner):
    """``class_zero_positions``, flattened to 1-D."""
    if tf.executing_eagerly() and all(isinstance(n, int) for n in (outer, classes, inner)):
        return _class_zero_constant(outer, classes, inner)  # one constant per shape instead of a handful of eager ops
    positions = tf.range(outer, dtype=tf.int64)[:, None] * (classes * inner) + tf.range(inner, dtype=tf.int64)[None, :]
    return tf.reshape(positions, (-1,))


@functools.lru_cache(maxsize=4)
def _class_zero_constant(outer, classes, inner):
    # built from the uncached table: TensorFlow keeps its own copy (1.9 ms to copy at 1e7 values / 4 classes)
    return tf.constant(class_zero_positions.__wrapped__(outer, classes, inner).reshape(-1))


OPS = TensorflowOps()
# sigmoid_cross_entropy_with_logits, reduced, its result read instead of the logits' range
NATIVE = {"binary_crossentropy": bce_from_logits(OPS)}
