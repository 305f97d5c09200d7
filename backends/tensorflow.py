"""TensorFlow backend: the op table on ``tf.Tensor`` (eager, ``tf.function`` and XLA).

TensorFlow's fused losses (``sigmoid_cross_entropy_with_logits``, ``sparse_softmax_...``)
return NaN at infinite logits, so the generic formulas are used throughout.
"""
from __future__ import annotations

import numbers

import tensorflow as tf

from crossloss.ops import Ops


def _like(value, other):
    """A Python number as a constant of ``other``'s dtype (tf.where does not promote)."""
    return tf.constant(value, dtype=other.dtype) if isinstance(value, numbers.Number) else value


class TensorflowOps(Ops):
    name = "tensorflow"

    def is_tensor(self, x):
        return isinstance(x, (tf.Tensor, tf.Variable))

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
        return tuple(x.shape.as_list())

    def reshape(self, x, shape):
        return tf.reshape(x, shape)

    def finfo_max(self, dtype):
        return float(tf.as_dtype(dtype).max)

    def sum(self, x, axis=None, keepdims=False):
        return tf.reduce_sum(x, axis=axis, keepdims=keepdims)

    def mean(self, x, axis=None, keepdims=False):
        return tf.reduce_mean(x, axis=axis, keepdims=keepdims)

    def max(self, x, axis=None, keepdims=False):
        return tf.reduce_max(x, axis=axis, keepdims=keepdims)

    def where(self, condition, a, b):
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
    log1p = staticmethod(tf.math.log1p)
    sigmoid = staticmethod(tf.sigmoid)             # exact at +-inf
    log_sigmoid = staticmethod(tf.math.log_sigmoid)  # -softplus(-x): 0 and -inf at +-inf

    ones_like = staticmethod(tf.ones_like)

    def arange(self, n, like):
        return tf.range(n, dtype=tf.int64)

    def take_along_axis(self, x, index, axis):
        return tf.experimental.numpy.take_along_axis(x, index, axis)

    def segment_sum(self, values, ids, num_segments):
        return tf.math.unsorted_segment_sum(values, ids, num_segments)

    def placement(self, x):
        return x.device if tf.executing_eagerly() else None

    def value_range(self, x, force=False):
        if not tf.executing_eagerly() or tf.size(x) == 0:
            return None
        if ("GPU" in x.device or "TPU" in x.device) and not force:
            return None
        if x.dtype == tf.bool:
            x = tf.cast(x, tf.uint8)
        return float(tf.reduce_min(x)), float(tf.reduce_max(x))


OPS = TensorflowOps()
NATIVE: dict = {}
