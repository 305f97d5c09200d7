"""Kullback-Leibler divergence KL(y_true || y_pred) along the class axis."""
from __future__ import annotations

from ..spec import PROBABILITIES, LossSpec, Param, Terms, axis, boolean
from .crossentropy import _prediction


def _kl(c, y_true, y_pred):
    ops = c.ops
    if c.from_logits:  # sum p log p - sum p log q, the second -inf where p > 0 meets q = 0
        entropy = ops.sum(ops.mul_(ops.floored_log(y_true, c.true_range), y_true), axis=c.axis)
        return Terms(ops.sub_(entropy, ops.weighted_log_softmax_sum(y_true, y_pred, c.axis, c.pred_range)))
    gap = ops.sub_(ops.floored_log(y_true, c.true_range), ops.floored_log(y_pred, c.pred_range))
    return Terms(ops.mul_(gap, y_true), along=c.axis)  # p = 0 contributes 0: the logs are finite


SPECS = [
    LossSpec(
        "kl_divergence", _kl, aliases=("kld", "kl_div"), class_axis=True,
        y_true=PROBABILITIES, y_pred=_prediction, none_shape="y_pred's shape without the class axis",
        params=(Param("from_logits", False, "y_pred are logits (or log-probabilities): log-softmax is applied", boolean),
                Param("axis", -1, "the class axis", axis)),
        formula="l = sum_c p_c (log p_c - log q_c), p = y_true, q = y_pred (logs floored at -100, or "
                "log q = log_softmax(x)); terms with p_c = 0 are 0; the mean is over the other entries "
                "(torch's 'batchmean' for 2-D inputs)"),
]
