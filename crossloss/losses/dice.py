"""Soft Dice loss, with dense targets or integer labels (never expanded to a one-hot)."""
from __future__ import annotations

from ..errors import bad_value
from ..ops import values_per_result
from ..spec import (DENSE_OR_LABELS, LOGITS, PROBABILITIES, LossSpec, Param, Terms, boolean,
                    integer_or_none, non_negative, one_of)


def _prediction(params):
    return PROBABILITIES if params["activation"] is None else LOGITS


def _check_params(params):
    """What no input can make valid: checked by get()."""
    if params["axis"] == 0:
        raise bad_value("dice", "axis", "a class axis other than the batch axis 0", "0")
    needs_classes = [what for what, used in (("activation='softmax'", params["activation"] == "softmax"),
                                             ("include_background=False", not params["include_background"]),
                                             ("ignore_index (integer labels)", params["ignore_index"] is not None))
                     if used]
    if params["axis"] is None and needs_classes:
        raise bad_value("dice", "axis", f"a class axis for {needs_classes[0]}", "None")


def _check(c, y_true, y_pred):
    rank = len(c.ops.shape(y_pred))
    if c.axis == 0 and rank > 1 or c.axis_param is not None and rank < 2:
        raise bad_value("dice", "axis", "a class axis other than the batch axis 0 of y_pred "
                        f"(shape {c.ops.static_shape(y_pred)})", repr(c.axis_param))
    if not c.include_background and c.num_classes == 1:
        raise bad_value("dice", "include_background", "True with one class (False would leave no class to "
                        f"score; y_pred's shape {c.ops.static_shape(y_pred)})", "False")
    if c.ignore_index is not None and not c.labels:
        raise bad_value("dice", "ignore_index", "integer-label targets (y_pred's shape without the "
                        "class axis)", f"dense targets of shape {c.ops.static_shape(y_true)}")


def _dense_sums(c, t, p):
    """I = sum(p t), P = sum(p) or sum(p^2), T likewise, over every axis but batch and class."""
    ops = c.ops
    rank = len(ops.shape(p))
    spatial = tuple(i for i in range(1, rank) if i != c.axis) or None
    if spatial is None:  # nothing to sum over: each entry is its own region
        return p * t, ops.square(p) if c.squared else p, ops.square(t) if c.squared else t
    if c.squared:
        return ops.sum_product(p, t, spatial), ops.sum_product(p, p, spatial), ops.sum_product(t, t, spatial)
    return ops.sum_product(p, t, spatial), ops.sum_over(p, spatial), ops.sum_over(t, spatial)


def _label_sums(c, labels, p):
    """The same sums for integer labels (``label_sums``: never a dense one-hot; t^2 = t)."""
    ops = c.ops
    shape = ops.shape(p)
    if c.num_classes is None:  # a graph's input signature left it out: the segments could not be laid out
        raise bad_value("dice", "y_pred", "a class axis of known size for integer-label targets (give it in a "
                        "graph's input signature)", f"shape {ops.static_shape(p)}")
    spatial = tuple(i for i in range(1, len(shape)) if i != c.axis)
    pixels = values_per_result(ops.static_shape(p), spatial)  # the most a segment (sample, class) gathers
    ignored = None if c.ignore_index is None else labels == c.ignore_index
    intersection, targets = ops.label_sums(p, labels, c.axis, c.num_classes, ignored, pixels)
    if ignored is not None:  # nor in P
        p = p * c.label_index(1.0 - ops.cast(ignored, c.dtype), p)
    if not spatial:
        predicted = ops.square(p) if c.squared else p
    else:
        predicted = ops.sum_product(p, p, spatial) if c.squared else ops.sum_over(p, spatial)
    return intersection, predicted, targets


def _dice(c, y_true, y_pred):
    ops = c.ops
    _check(c, y_true, y_pred)
    p = y_pred
    if c.activation == "sigmoid":
        p = ops.sigmoid(p)
    elif c.activation == "softmax":
        p = ops.softmax(p, c.axis, c.pred_range)
    intersection, predicted, targets = (_label_sums if c.labels else _dense_sums)(c, y_true, p)
    if c.axis is not None:  # sums are (batch, class) now
        if not c.include_background:
            intersection, predicted, targets = intersection[:, 1:], predicted[:, 1:], targets[:, 1:]
        if not c.per_class:
            intersection, predicted, targets = (ops.sum(x, axis=1) for x in (intersection, predicted, targets))
    if c.batch:
        intersection, predicted, targets = (ops.sum(x, axis=0) for x in (intersection, predicted, targets))
    # 1 - (2 I + smooth_nr) / (P + T + smooth_dr), as (P + T - 2 I + smooth_dr - smooth_nr) / (P + T + smooth_dr):
    # 1 - ratio would round a loss near 0 (a nearly empty prediction of an empty mask) to multiples of eps.
    # P + T - 2 I first: a near-perfect prediction cancels exactly (2 I is exact) before the smoothing adds
    total = predicted + targets
    numerator = ops.add_multiple(total, intersection, -2.0)
    if c.smooth_dr != c.smooth_nr:
        numerator = ops.affine(numerator, 1.0, c.smooth_dr - c.smooth_nr)
    denominator = ops.affine(total, 1.0, c.smooth_dr)
    loss = numerator / denominator
    if ops.differentiated(loss):
        # N / D's slope, 1/D - N/D^2, cancels where the loss is near 1 (to noise for a class the target
        # lacks): the slopes are 1 - M / D's, M = 2 I + smooth_nr (M/D^2 in P and T, -2/D in I)
        if c.smooth_dr == 0:  # D = 0 (an empty class): the value is N / 0; M / 0 would make it NaN
            denominator = ops.where(denominator > 0, denominator, 1.0)
        loss = ops.with_slope_of(loss, ops.affine(intersection, -2.0, -c.smooth_nr) / denominator)  # -M / D
    return Terms(loss, weighted_by_sample=not c.batch)


SPECS = [
    LossSpec(
        "dice", _dice, class_axis=True, y_true=DENSE_OR_LABELS, y_pred=_prediction, gathers_labels=True,
        values_per_entry=False, uses_minimum=(),  # (no log: sums and products only)
        check_params=_check_params,
        none_shape="(batch, classes) (classes less the background with include_background=False); (batch,) "
                   "with per_class=False or axis=None; (classes,) with "
                   "batch=True; () with batch=True and per_class=False or axis=None",
        params=(
            Param("activation", None, "applied to y_pred first: None, 'sigmoid' or 'softmax' (over the class axis)",
                  one_of(None, "sigmoid", "softmax")),
            Param("smooth_nr", 1e-5, "added to the numerator (>= 0)", non_negative, in_dtype=True),
            Param("smooth_dr", 1e-5, "added to the denominator (>= 0; with 0 an empty mask and empty "
                  "prediction give 0/0 = NaN, or -inf where smooth_nr > 0, as the formula does)", non_negative,
                  in_dtype=True),
            Param("squared", False, "sums of squares in the denominator (the V-Net form)", boolean),
            Param("per_class", True, "one Dice per class; False pools the classes of a sample", boolean),
            Param("batch", False, "sum over the batch too (one Dice per class for the whole batch)", boolean),
            Param("include_background", True, "keep class 0; False drops it", boolean),
            Param("ignore_index", None, "with integer labels: pixels with this label count nowhere", integer_or_none),
            Param("axis", -1, "the class axis of y_pred (not 0, the batch axis); None: no class axis",
                  integer_or_none),
        ),
        formula="for each sample b and class c, over the other axes: I = sum(p t), P = sum(p) "
                "(sum(p^2) if squared), T = sum(t) (sum(t^2) if squared); "
                "l = 1 - (2 I + smooth_nr) / (P + T + smooth_dr); the mean over samples and classes",
        doc="y_true is y_pred's shape (one-hot, masks, soft targets) or integer labels without the class axis."),
]
