"""Regression losses: elementwise functions of the error e = y_pred - y_true."""
from __future__ import annotations

import math

import numpy as np

from ..spec import LossSpec, Param, Terms, non_negative, positive

_ELEMENTWISE = "y_pred's shape: one value per element"


def _mse(c, y_true, y_pred):
    return Terms(c.ops.square_(y_pred - y_true))


def _mae(c, y_true, y_pred):
    return Terms(c.ops.abs_(y_pred - y_true))


def huber_terms(ops, error, delta, per_delta=False):
    """q (|e| - q / 2) with q = min(|e|, delta): both Huber branches in one expression, with
    the rounding of torch's kernel in each, infinite (not NaN) at |e| = inf. Its slope has
    no delta - delta to cancel: 0.5 q^2 + delta (|e| - q) had one, and lost q entirely (a
    zero gradient) once delta > 2^24 |e| in float32. ``per_delta``: divided by delta (Smooth
    L1), as (q / delta)(|e| - q / 2), whose factors stay in range where the result is
    (e^2 overflowed at e = 1e25, beta = 1e30 in float32). ``error`` is a temporary."""
    delta = ops.representable(delta, ops.dtype_name(error))  # beyond the dtype's range every |e| is below it anyway
    a = ops.abs_(error)
    q = ops.minimum(a, delta)
    factor = ops.div(q, delta) if per_delta and delta != 1 else q
    return ops.mul_(ops.sub_(a, 0.5 * q), factor)


def _huber(c, y_true, y_pred):
    return Terms(huber_terms(c.ops, y_pred - y_true, c.delta))


def _smooth_l1(c, y_true, y_pred):
    error = y_pred - y_true
    # below the compute dtype's smallest normal number only subnormal errors are quadratic, and
    # |e| differs from the loss by at most beta / 2: L1, as at beta = 0 (TensorFlow's CPU kernels
    # read a subnormal beta as 0, and 0 / 0 was NaN; below float32's range beta is 0 itself)
    if c.beta < float(np.finfo(c.dtype).tiny):  # float(): NumPy casts a beta of 1e39 to float32, and warns
        return Terms(c.ops.abs_(error))
    if c.beta > c.ops.finfo_max(c.dtype):  # every finite error is in the quadratic part: 0.5 e^2 / beta as (e s)^2
        return Terms(c.ops.square_(c.ops.mul_(error, math.sqrt(0.5 / c.beta))))
    return Terms(huber_terms(c.ops, error, c.beta, per_delta=True))  # Huber(delta) = delta * SmoothL1(beta=delta)


SPECS = [
    LossSpec("mean_squared_error", _mse, aliases=("mse",), none_shape=_ELEMENTWISE,
             formula="l = (y_pred - y_true)^2"),
    LossSpec("mean_absolute_error", _mae, aliases=("mae", "l1"), none_shape=_ELEMENTWISE,
             formula="l = |y_pred - y_true|"),
    LossSpec("huber", _huber, none_shape=_ELEMENTWISE,
             params=(Param("delta", 1.0, "where the quadratic part turns linear (> 0)", positive),),
             formula="e = y_pred - y_true; l = 0.5 e^2 if |e| <= delta else delta (|e| - 0.5 delta)"),
    LossSpec("smooth_l1", _smooth_l1, none_shape=_ELEMENTWISE,
             params=(Param("beta", 1.0, "where the quadratic part turns linear (>= 0; 0 is L1)", non_negative),),
             formula="e = y_pred - y_true; l = 0.5 e^2 / beta if |e| < beta else |e| - 0.5 beta; beta = 0: l = |e|"),
]
