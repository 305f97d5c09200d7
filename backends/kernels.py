"""What the fused kernels of more than one backend share (the kernel protocol: this package's
``__init__``)."""
from __future__ import annotations

import contextlib
import math

from crossloss.losses.crossentropy import smoothed_binary_targets


def on_finite_logits(kernel, result_shows=False):
    """A fused logits kernel where it is exact: for finite logits (it is NaN or inf at +-inf).

    That is known from the logits' range, where the value checks read it (and the guarded
    formula runs beyond +-finfo.max / 32, see ``Ops.log_softmax``), or, with
    ``result_shows``, from the reduced loss itself: every infinite logit makes it NaN or inf
    unless it cannot change a value or a gradient (-inf at a class of zero weight). Then the
    checks leave the logits unread, and the loss is read instead: one scalar, not the input.
    A kernel that declines (returns None) leaves the logits to the formula, which reads them.
    """
    def run(c, y_true, y_pred):
        if c.pred_range is not None:
            return kernel(c, y_true, y_pred) if c.ops.finite_logits(y_pred, c.pred_range) else None
        if not result_shows or c.read is None:  # nothing may be read: the guarded formula
            return None
        loss = kernel(c, y_true, y_pred)
        if loss is None:  # declined on other grounds: the formula's guards need the logits' range
            c.pred_range = c.fact(c.read(y_pred))
            return None
        return loss if math.isfinite(c.ops.number(loss)) else None
    run.covers_pred = result_shows
    run.skipped_label = getattr(kernel, "skipped_label", None)
    run.counts_every_entry = getattr(kernel, "counts_every_entry", False)
    return run


def bce_from_logits(ops, quiet=contextlib.nullcontext):
    """``choose`` of BCE with logits, summed or averaged, on logits that were not read: the
    formula's own kernel (``ops.bce_with_logits_finite``, the ops that it runs where the
    logits lie within +-finfo.max / 4, so the same numbers), whose reduced result shows an
    infinite or NaN logit as NaN; the formula then runs with its guards. A finite logit
    beyond +-finfo.max / 4, which the formula clamps, counts exactly here, as in torch's
    fused kernels (docs/semantics.md), unless the sum overflows: the result is then not
    finite, and the formula runs. For backends whose own BCE kernel is that op (NumPy,
    TensorFlow); ``quiet``: a context that silences the backend's warnings of 0 * inf and of
    an overflowing sum, which a valid input may cause here."""
    def choose(call, reduction, y_pred):
        size = ops.size(y_pred)
        if not call.from_logits or reduction not in ("mean", "sum") or not isinstance(size, int) or not size:
            return None  # (a size a graph leaves unknown: nothing is read there, the formula runs)

        def with_logits(c, y_true, y_pred):
            with quiet():
                loss = ops.bce_with_logits_finite(smoothed_binary_targets(c, y_true), y_pred, c.pos_weight,
                                                  c.neg_weight)
                total = ops.sum(loss)
            return total if reduction == "sum" else ops.div(total, size)  # (core._reduce's mean: one rounding)
        return on_finite_logits(with_logits, result_shows=True)
    return choose
