"""What the fused kernels of more than one backend share (the kernel protocol: this package's
``__init__``)."""
from __future__ import annotations

import math


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
        return loss if math.isfinite(loss.item()) else None
    run.covers_pred = result_shows
    run.skipped_label = getattr(kernel, "skipped_label", None)
    run.counts_every_entry = getattr(kernel, "counts_every_entry", False)
    return run
