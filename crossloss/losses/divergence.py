"""Kullback-Leibler divergence KL(y_true || y_pred) along the class axis."""
from __future__ import annotations

from ..spec import PROBABILITIES, LossSpec, Param, Terms, axis, boolean
from .crossentropy import _prediction, log_probabilities


def _kl(c, y_true, y_pred):
    ops = c.ops
    gap = ops.sub_(ops.floored_log(y_true), log_probabilities(c, y_pred))
    terms = ops.mul_no_nan(y_true, gap) if c.from_logits else ops.mul_(gap, y_true)  # p = 0 contributes 0
    return Terms(ops.sum(terms, axis=c.axis))


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
