"""Regression losses: elementwise functions of the error e = y_pred - y_true."""
from __future__ import annotations

from ..spec import LossSpec, Param, Terms, non_negative, positive

_ELEMENTWISE = "y_pred's shape: one value per element"


def _mse(c, y_true, y_pred):
    return Terms(c.ops.square_(y_pred - y_true))


def _mae(c, y_true, y_pred):
    return Terms(c.ops.abs_(y_pred - y_true))


def huber_terms(ops, error, delta):
    """0.5 q^2 + delta (|e| - q) with q = min(|e|, delta): the two Huber branches in one
    expression, exact at |e| = delta and infinite (not NaN) at |e| = inf. ``error`` is a temporary."""
    a = ops.abs_(error)
    q = ops.minimum(a, delta)
    linear = a - q if delta == 1 else delta * (a - q)  # 1 * x is x: one full-size pass fewer
    return 0.5 * ops.square(q) + linear


def _huber(c, y_true, y_pred):
    return Terms(huber_terms(c.ops, y_pred - y_true, c.delta))


def _smooth_l1(c, y_true, y_pred):
    error = y_pred - y_true
    if c.beta == 0:
        return Terms(c.ops.abs_(error))
    huber = huber_terms(c.ops, error, c.beta)  # Huber(delta) = delta * SmoothL1(beta=delta)
    return Terms(huber if c.beta == 1 else c.ops.div(huber, c.beta))


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
