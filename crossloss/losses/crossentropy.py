"""Cross-entropies: binary, categorical (dense targets) and sparse (integer labels)."""
from __future__ import annotations

from ..spec import (LABELS, LOGITS, PROBABILITIES, LossSpec, Param, Terms, axis, boolean,
                    integer_or_none, unit_interval, weights_or_none)


def _prediction(params):
    return LOGITS if params["from_logits"] else PROBABILITIES


def along_class_axis(c, weights, rank):
    """A per-class weight vector shaped to broadcast along the class axis of a rank-``rank`` tensor."""
    return c.ops.reshape(weights, tuple(-1 if i == c.axis else 1 for i in range(rank)))


def log_probabilities(c, y_pred, known=None):
    """log q: log-softmax of logits along the class axis, or the floored log of probabilities.
    ``known``: y_pred's range if the formula read it itself, else the contract's ``c.pred_range``."""
    known = known or c.pred_range
    return c.ops.log_softmax(y_pred, c.axis, known) if c.from_logits else c.ops.floored_log(y_pred, known)


def weighted_sum(c, weights, log_q):
    """sum over the class axis of weights * log q (a temporary); a zero weight contributes 0
    even at log q = -inf."""
    products = c.ops.mul_no_nan(weights, log_q) if c.from_logits else c.ops.mul_(log_q, weights)
    return c.ops.sum(products, axis=c.axis)


def smoothed_binary_targets(c, y):
    """y (1 - e) + 0.5 e for label smoothing e (y itself when e = 0)."""
    return y * (1.0 - c.label_smoothing) + 0.5 * c.label_smoothing if c.label_smoothing else y


def _binary(c, y_true, y_pred):
    ops = c.ops
    y = smoothed_binary_targets(c, y_true)
    if c.from_logits:
        return Terms(ops.bce_with_logits(y, y_pred, c.pos_weight, c.pred_range, c.neg_weight))
    positive = y if c.pos_weight is None else c.pos_weight * y
    negative = 1.0 - y if c.neg_weight is None else c.neg_weight * (1.0 - y)
    loss = ops.add_(ops.mul_(ops.floored_log(y_pred, c.pred_range), positive),
                    ops.mul_(ops.floored_log1m(y_pred, c.pred_range), negative))
    return Terms(loss, scale=-1.0)


def _categorical(c, y_true, y_pred):
    y = y_true
    if c.label_smoothing:
        y = y * (1.0 - c.label_smoothing) + c.label_smoothing / c.class_count(y_pred)
    if c.class_weight is not None:
        y = y * along_class_axis(c, c.class_weight, len(c.ops.shape(y_pred)))
    if c.from_logits:
        return Terms(c.ops.weighted_log_softmax_sum(y, y_pred, c.axis, c.pred_range), scale=-1.0)
    # y log p per class: a mean or sum of the loss sums them all at once (along the class axis)
    return Terms(c.ops.mul_(c.ops.floored_log(y_pred, c.pred_range), y), scale=-1.0, along=c.axis)


def _sparse(c, labels, y_pred):
    ops = c.ops
    ignored = None if c.ignore_index is None else labels == c.ignore_index
    if ignored is not None:
        labels = ops.where(ignored, 0, labels)
    index = c.label_index(labels, y_pred)
    if c.label_smoothing:  # every class's log-probability is needed
        log_q = log_probabilities(c, y_pred, None if c.from_logits else c.check_probabilities(y_pred))
        picked = ops.take_along_axis(log_q, index, c.axis)
    elif c.from_logits:
        picked = ops.log_softmax_at(y_pred, index, c.axis, c.pred_range)
    else:  # only the labelled probability is read (and checked) and logged
        picked = ops.take_along_axis(y_pred, index, c.axis)
        if ignored is not None:  # their class 0 was gathered: it counts nowhere (as a NaN slope would)
            picked = ops.where(c.label_index(ignored, y_pred), 1.0, picked)
        picked = ops.floored_log(picked, c.check_probabilities(picked))
    if c.class_weight is None and not c.label_smoothing and ignored is None:  # log q_t, its class axis kept
        return Terms(picked, scale=-1.0, along=c.axis)
    likelihood = ops.reshape(picked, ops.shape(labels))  # log q_t; the loss is its negative (scale)
    weight = None
    if c.class_weight is not None:
        if ops.size(c.class_weight) == 1:  # one weight for every class: torch's mean cancels it
            weight = ops.ones_like(likelihood) * ops.reshape(c.class_weight, ())
        else:
            weight = ops.reshape(ops.take_along_axis(c.class_weight, ops.reshape(labels, (-1,)), 0), ops.shape(labels))
        likelihood = ops.mul_no_nan(weight, likelihood) if c.from_logits else weight * likelihood  # 0 * -inf: 0
    if c.label_smoothing:  # as torch: (1 - e) w_t log q_t + e/K sum_c w_c log q_c
        share = c.label_smoothing / c.class_count(y_pred)  # applied before the sum, whose K terms could overflow
        if c.class_weight is None:
            spread = ops.sum(ops.mul_(log_q, share), axis=c.axis)
        else:
            spread = weighted_sum(c, along_class_axis(c, c.class_weight * share, len(ops.shape(y_pred))), log_q)
        # at e = 1 the label's own term is gone: 0 * -inf would make an infinite loss NaN
        likelihood = spread if c.label_smoothing == 1.0 else (1.0 - c.label_smoothing) * likelihood + spread
    if ignored is None:
        return Terms(likelihood, count=None if weight is None else ops.sum(weight), scale=-1.0, counted=weight)
    kept = 1.0 - ops.cast(ignored, c.dtype) if weight is None else ops.where(ignored, 0.0, weight)
    return Terms(ops.where(ignored, 0.0, likelihood), count=ops.sum(kept), scale=-1.0, counted=kept)


_LOGITS = Param("from_logits", False, "y_pred are logits (log-sigmoid / log-softmax forms) instead of probabilities", boolean)
_SMOOTHING = "label smoothing e in [0, 1]"
_AXIS = Param("axis", -1, "the class axis of y_pred", axis)
_CLASS_WEIGHT = Param("class_weight", None, "one weight per class (>= 0), or a scalar for every class",
                      weights_or_none, per_class=True)

SPECS = [
    LossSpec(
        "binary_crossentropy", _binary, aliases=("bce", "weighted_binary_crossentropy"),
        y_true=PROBABILITIES, y_pred=_prediction, none_shape="y_pred's shape: one value per element",
        uses_minimum=("y_pred",),  # (its log floor; y is only multiplied)
        params=(_LOGITS,
                Param("label_smoothing", 0.0, _SMOOTHING + ": y -> y (1 - e) + 0.5 e", unit_interval),
                Param("pos_weight", None, "weight of the positive term: a scalar (or an array of one) or one "
                      "per entry of the last axis (with logits, torch's pos_weight)", weights_or_none,
                      per_class=True, one_for_all=True),
                Param("neg_weight", None, "weight of the negative term: a scalar (or an array of one) or one per "
                      "entry of the last axis", weights_or_none, per_class=True, one_for_all=True)),
        formula="l = -[w_pos y log p + w_neg (1 - y) log(1 - p)], logs floored at -100; "
                "from_logits: log p = log_sigmoid(x), log(1 - p) = log_sigmoid(-x)"),
    LossSpec(
        "categorical_crossentropy", _categorical, aliases=("cce",), class_axis=True,
        y_true=PROBABILITIES, y_pred=_prediction, none_shape="y_pred's shape without the class axis",
        uses_minimum=("y_pred",),
        params=(_LOGITS, Param("label_smoothing", 0.0, _SMOOTHING + ": y -> y (1 - e) + e / K", unit_interval),
                _CLASS_WEIGHT, _AXIS),
        formula="l = -sum_c w_c y_c log q_c over the class axis; q = p (log floored at -100, never "
                "renormalised) or softmax(x)"),
    LossSpec(
        "sparse_categorical_crossentropy", _sparse, aliases=("scce",), class_axis=True,
        y_true=LABELS, y_pred=_prediction, none_shape="the labels' shape, less a size-1 class axis (ignored entries are 0)",
        checks_read_values=True, gathers_labels=True, uses_minimum=("y_pred",),
        params=(_LOGITS,
                Param("ignore_index", None, "a label value that contributes nothing and is not counted",
                      integer_or_none),
                Param("label_smoothing", 0.0, _SMOOTHING + ", computed as torch does with class weights",
                      unit_interval),
                _CLASS_WEIGHT, _AXIS),
        formula="l = (1 - e) w_t (-log q_t) + (e / K) sum_c w_c (-log q_c) for label t; "
                "mean = sum(l) / sum(w_t) over non-ignored labels (0 if none)"),
]
