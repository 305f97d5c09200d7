"""Kullback-Leibler divergence KL(y_true || y_pred) along the class axis."""
from __future__ import annotations

from ..spec import PROBABILITIES, LossSpec, Param, Terms, axis, boolean
from .crossentropy import _prediction


def _kl(c, y_true, y_pred):
    ops = c.ops
    log_p = ops.floored_log(y_true, c.true_range)
    if c.from_logits and not ops.finite_logits(y_pred, c.pred_range):
        # sum p log p - sum p log q: the second is -inf where p > 0 meets q = 0 (an infinite logit)
        entropy = ops.sum(ops.mul_(log_p, y_true), axis=c.axis)
        return Terms(ops.sub_(entropy, ops.weighted_log_softmax_sum(y_true, y_pred, c.axis, c.pred_range)))
    # every log is finite (logits known finite, probabilities floored): p = 0 contributes 0,
    # and a mean or sum of everything adds the products in one reduction (Terms.along)
    log_q = ops.log_softmax(y_pred, c.axis, c.pred_range) if c.from_logits else ops.floored_log(y_pred, c.pred_range)
    return Terms(ops.mul_(ops.sub_(log_p, log_q), y_true), along=c.axis)


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
