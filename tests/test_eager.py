"""Eager TensorFlow: every op of a loss call takes TensorFlow's fast path. An op given a
Python tuple or list (a shape, axes, a permutation) falls back to the slow path at about
twice to four times the cost (benchmarks/README.md); on CPU those ops set the time."""
import numpy as np
import pytest

import crossloss
from crossloss.conformance import cases as catalogue

tf = pytest.importorskip("tensorflow")
from tensorflow.python import pywrap_tfe  # noqa: E402  (the eager entry points TensorFlow's op wrappers call)


@pytest.fixture
def slow_ops(monkeypatch):
    """The names of the ops that leave the fast path, as they run."""
    names = []
    slow = pywrap_tfe.TFE_Py_Execute

    def recorded(ctx, device, op_name, *args):
        names.append(op_name.decode() if isinstance(op_name, bytes) else op_name)
        return slow(ctx, device, op_name, *args)
    monkeypatch.setattr(pywrap_tfe, "TFE_Py_Execute", recorded)
    return names


def test_a_tuple_of_axes_is_seen_leaving_the_fast_path(slow_ops):
    x = tf.ones((2, 3))
    tf.reduce_sum(x, 1)
    assert slow_ops == []
    tf.reduce_sum(x, (1,))
    assert slow_ops == ["Sum"]


@pytest.mark.parametrize("name", crossloss.list_losses())
def test_every_op_of_an_eager_call_takes_the_fast_path(name, slow_ops):
    """Every catalogue case, reduction and sample weight, float32, after a first call."""
    for case in catalogue.all_cases(name):
        for reduction in ("mean", "sum", "none"):
            loss = crossloss.get(case.loss, backend="tensorflow", reduction=reduction, **case.params)
            y_true = case.y_true if case.y_true.dtype.kind in "iub" else case.y_true.astype(np.float32)
            y_true, y_pred = tf.constant(y_true), tf.constant(case.y_pred.astype(np.float32))
            weights = [None] if case.sample_weight is None else [None, tf.constant(case.sample_weight, tf.float32)]
            for weight in weights:
                loss(y_true, y_pred, weight)
                slow_ops.clear()
                loss(y_true, y_pred, weight)
                assert slow_ops == [], (case.name, reduction, weight is not None)


@pytest.mark.parametrize("params,labels,channels_last", [
    ({"axis": 1}, False, False), ({"axis": 1}, True, False), ({}, True, True),
    ({"axis": 1, "squared": True}, False, False), ({"axis": 1, "batch": True, "per_class": False}, True, False),
    ({"axis": 1, "activation": "softmax", "ignore_index": 0}, True, False),
])
def test_dice_sums_over_many_pixels_take_the_fast_path(params, labels, channels_last, slow_ops):
    """144 pixels a sample: float32 sums of 128 values or more add in float64, a path of its
    own that the catalogue's small inputs do not reach."""
    rng = np.random.default_rng(0)
    y_pred = rng.random((2, 4, 12, 12), dtype=np.float32)
    y_true = rng.integers(0, 4, (2, 12, 12)) if labels else (rng.random((2, 4, 12, 12)) > 0.5).astype(np.float32)
    if channels_last:
        y_pred, y_true = np.moveaxis(y_pred, 1, -1).copy(), y_true if labels else np.moveaxis(y_true, 1, -1).copy()
    loss = crossloss.get("dice", backend="tensorflow", **params)
    y_true, y_pred = tf.constant(y_true), tf.constant(y_pred)
    loss(y_true, y_pred)
    slow_ops.clear()
    loss(y_true, y_pred)
    assert slow_ops == []
