"""Shortcuts taken from the values the checks read: a guard is skipped only where it cannot
change a number (finite logits need no clamp and no -inf restore, probabilities above e^-100
no log floor, torch's fused cross-entropy runs on finite logits only).

A bound loss reuses one plan per input signature (shapes, dtypes, device), but what it learns
from the values is per call: the same loss object, fed finite and infinite inputs of one
signature in turn, must give the reference's numbers every time.
"""
import math
import subprocess
import sys

import numpy as np
import pytest

import crossloss
from crossloss.conformance.frameworks import to_backend, to_numpy
from crossloss.conformance.harness import compare, reference_for

BACKENDS = [b for b in ("numpy", "torch", "tensorflow") if b in crossloss.available_backends()]

CASES = [  # (loss, params, y_true kind, y_pred kind)
    ("categorical_crossentropy", {"from_logits": True}, "distribution", "logits"),
    ("categorical_crossentropy", {"from_logits": True, "label_smoothing": 0.1, "class_weight": [1, 2, 0.5, 1]},
     "distribution", "logits"),
    ("categorical_crossentropy", {}, "distribution", "probabilities"),
    ("sparse_categorical_crossentropy", {"from_logits": True}, "labels", "logits"),
    ("sparse_categorical_crossentropy", {"from_logits": True, "ignore_index": 3, "class_weight": [1, 2, 0.5, 1]},
     "labels", "logits"),
    ("sparse_categorical_crossentropy", {}, "labels", "probabilities"),
    ("kl_divergence", {"from_logits": True}, "distribution", "logits"),
    ("kl_divergence", {}, "distribution", "probabilities"),
    ("binary_crossentropy", {"from_logits": True}, "binary", "logits"),
    ("binary_crossentropy", {"from_logits": True, "pos_weight": [1, 3, 0.5, 2], "label_smoothing": 0.2},
     "binary", "logits"),
    ("binary_crossentropy", {"pos_weight": 2.0, "neg_weight": 0.5}, "binary", "probabilities"),
    ("dice", {"activation": "softmax"}, "distribution", "logits"),
]


def inputs(y_true_kind, y_pred_kind, extreme: bool, rng):
    """(y_true, y_pred) of shape (6, 4); ``extreme`` puts +-inf logits or exact 0/1 probabilities in."""
    logits = rng.normal(size=(6, 4)) * 2
    if y_pred_kind == "logits":
        y_pred = logits
        if extreme:
            y_pred[0, 1], y_pred[2, 0], y_pred[3, :] = math.inf, -math.inf, -math.inf
    else:
        y_pred = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
        if extreme:
            y_pred[0] = [0.0, 1.0, 0.0, 0.0]
            y_pred[1, 2] = 1.0
    if y_true_kind == "labels":
        y_true = rng.integers(0, 4, 6)
        y_true[1:] = np.where(rng.uniform(size=5) < 0.3, 3, y_true[1:])
    elif y_true_kind == "binary":
        y_true = (rng.uniform(size=(6, 4)) < 0.5).astype(np.float64)
    else:
        y_true = rng.dirichlet(np.ones(4), 6)
        y_true[4] = [0.0, 1.0, 0.0, 0.0]  # zero targets next to whatever y_pred holds
    return y_true, y_pred


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,params,y_true_kind,y_pred_kind", CASES, ids=lambda v: v if isinstance(v, str) else "")
def test_one_loss_object_with_finite_and_infinite_inputs_matches_the_reference(backend, name, params, y_true_kind,
                                                                            y_pred_kind):
    rng = np.random.default_rng(3)
    reference = reference_for(name)
    for reduction in ("mean", "none"):
        loss = crossloss.get(name, backend=backend, reduction=reduction, **params)
        for extreme in (False, True, False, True):  # one signature, so one plan, throughout
            y_true, y_pred = inputs(y_true_kind, y_pred_kind, extreme, rng)
            out = loss(to_backend(backend, y_true, "float64"), to_backend(backend, y_pred, "float64"))
            with np.errstate(all="ignore"):
                expected = np.asarray(reference(y_true, y_pred, reduction=reduction, **params), dtype=np.float64)
            passed, _, detail = compare(to_numpy(out), expected, "float64")
            assert passed, f"{name}{params} {reduction} extreme={extreme}: {detail}"


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("name,params,y_pred_kind,fast_op", [
    ("categorical_crossentropy", {"from_logits": True}, "logits", "aten::cross_entropy_loss"),
    ("sparse_categorical_crossentropy", {"from_logits": True}, "logits", "aten::cross_entropy_loss"),
    ("binary_crossentropy", {"from_logits": True}, "logits", "aten::binary_cross_entropy_with_logits"),
    ("categorical_crossentropy", {}, "probabilities", "aten::log"),
])
def test_torch_takes_the_shortcut_only_where_the_values_allow_it(name, params, y_pred_kind, fast_op):
    import torch
    rng = np.random.default_rng(4)
    loss = crossloss.get(name, **params)
    kind = "labels" if name.startswith("sparse") else "binary" if name.startswith("binary") else "distribution"

    def ops_run(extreme):
        y_true, y_pred = (torch.as_tensor(a) for a in inputs(kind, y_pred_kind, extreme, rng))
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            loss(y_true, y_pred)
        return {event.key for event in prof.key_averages()}

    guards = {"aten::clamp", "aten::clamp_min", "aten::clamp_min_", "aten::clip", "aten::where"}  # clamp_min_: the log floor
    plain = ops_run(extreme=False)
    assert fast_op in plain and not plain & guards, sorted(plain)
    guarded = ops_run(extreme=True)
    assert guarded & guards, sorted(guarded)
    with crossloss.options(native_kernels=False):  # the generic formula keeps its guards
        assert ops_run(extreme=False) & guards


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("name,params,kernel", [
    ("huber", {}, "aten::huber_loss"), ("smooth_l1", {"beta": 0.5}, "aten::smooth_l1_loss"),
    ("mse", {}, "aten::mse_loss"), ("binary_crossentropy", {"from_logits": True}, "aten::binary_cross_entropy_with_logits"),
    ("categorical_crossentropy", {"from_logits": True}, "aten::cross_entropy_loss"),
    ("sparse_categorical_crossentropy", {"from_logits": True}, "aten::cross_entropy_loss"),
    ("sparse_categorical_crossentropy", {"from_logits": True, "label_smoothing": 0.2}, "aten::cross_entropy_loss"),
    # a mean that leaves labels out, or weighs them: the kernel's values cannot be weighted
    ("sparse_categorical_crossentropy", {"from_logits": True, "ignore_index": 3}, None),
    ("sparse_categorical_crossentropy", {"from_logits": True, "class_weight": [1, 2, 3, 4, 5]}, None),
])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_a_sample_weight_weighs_the_fused_kernels_unreduced_values(name, params, kernel, reduction):
    """With a sample_weight the formula ran instead of the kernel: Huber 2.5x torch's own
    weighted loss forward and 4.2x forward + backward at 1e6 values, with 3.5x its memory;
    sparse CE with logits 2.2x at 1e3 (it reads its labels' minimum for it: -100 is refused)."""
    import torch
    rng = np.random.default_rng(6)
    if name.startswith("sparse"):
        y_true = torch.tensor(rng.integers(0, 5, 8))
        y_true[0] = 3  # (a label ignore_index leaves out)
    elif name.startswith("categorical"):
        y_true = torch.tensor(rng.dirichlet(np.ones(5), 8))
    else:
        y_true = torch.tensor(rng.uniform(size=(8, 5)) > 0.5, dtype=torch.float64)
    y_pred = torch.tensor(rng.normal(scale=2.0, size=(8, 5)), requires_grad=True)
    weight = torch.tensor(rng.uniform(size=8))
    loss = crossloss.get(name, reduction=reduction, **params)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fused = loss(y_true, y_pred, weight)
    ran = {event.key for event in prof.key_averages()}
    assert kernel in ran if kernel else "aten::cross_entropy_loss" not in ran, sorted(ran)
    with crossloss.options(native_kernels=False):
        formula = loss(y_true, y_pred, weight)
    torch.testing.assert_close(fused, formula, rtol=1e-12, atol=1e-15)
    grads = [torch.autograd.grad(x.sum(), y_pred)[0] for x in (fused, formula)]
    torch.testing.assert_close(*grads, rtol=1e-12, atol=1e-15)
    if name.startswith("sparse"):  # torch's kernel skips a label of -100: the labels' minimum is read
        y_true[2] = -100
        with pytest.raises(crossloss.LossValueError, match="expected integer labels in \\[0, 5\\)"):
            loss(y_true, y_pred, weight)


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("name,y_true_kind", [("categorical_crossentropy", "distribution"),
                                              ("kl_divergence", "distribution"),
                                              ("sparse_categorical_crossentropy", "labels")])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_a_class_axis_loss_reduced_to_a_scalar_sums_its_terms_in_one_pass(name, y_true_kind, reduction):
    """Terms.along: the per-entry sums over the class axis are skipped when all is summed anyway;
    with a sample weight they are needed (and the weighted mean still matches the reference)."""
    import torch
    y_true, y_pred = inputs(y_true_kind, "probabilities", False, np.random.default_rng(6))
    loss = crossloss.get(name, reduction=reduction)

    def sums(**kwargs):
        with crossloss.options(native_kernels=False), torch.profiler.profile(
                activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            out = loss(torch.as_tensor(y_true), torch.as_tensor(y_pred), **kwargs)
        return sum(e.count for e in prof.key_averages() if e.key == "aten::sum"), out

    assert sums()[0] == 1
    weight = np.linspace(0.5, 2.0, 6)
    count, out = sums(sample_weight=torch.as_tensor(weight))
    assert count == 2
    expected = reference_for(name)(y_true, y_pred, sample_weight=weight, reduction=reduction)
    passed, _, detail = compare(to_numpy(out), np.asarray(expected), "float64")
    assert passed, detail


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_torch_kl_div_runs_only_where_no_target_meets_the_log_floor(from_logits, reduction):
    """torch's kl_div takes p log p unfloored (an infinite slope in p at 0), so it runs where
    every target is at least 1.2e-38, or is 0 where no slope in p is taken (one-hot teachers:
    both give 0 there); the formula where a target is in (0, 1.2e-38) or a 0 needs a slope.
    Both give the reference's numbers. Reduced, from logits, the kernel reads its result
    instead of the logits, and where it declines the logits are read for the formula's guards."""
    import torch
    rng = np.random.default_rng(6)
    loss = crossloss.get("kl_divergence", from_logits=from_logits, reduction=reduction)
    for targets, kernel_runs in (("positive", True), ("zeros", True), ("zeros, with a slope", False),
                                 ("below the floor", False)):
        y_true, y_pred = inputs("distribution", "logits" if from_logits else "probabilities", False, rng)
        if targets == "positive":
            y_true = rng.dirichlet(np.ones(4), 6)
        if targets == "below the floor":
            y_true[0] = [1e-300, 0.25, 0.25, 0.5 - 1e-300]
        assert y_true.min() == 0 or targets == "positive"
        y_true = torch.tensor(y_true, requires_grad=targets == "zeros, with a slope")
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            out = loss(y_true, torch.as_tensor(y_pred))
        counts = {event.key: event.count for event in prof.key_averages()}
        assert ("aten::kl_div" in counts) == kernel_runs, targets
        logits_unread = from_logits and reduction != "none" and kernel_runs
        assert counts["aten::aminmax"] == (1 if logits_unread else 2), counts
        expected = np.asarray(reference_for("kl_divergence")(y_true.detach().numpy(), y_pred, from_logits=from_logits,
                                                             reduction=reduction), dtype=np.float64)
        passed, _, detail = compare(to_numpy(out.detach()), expected, "float64")
        assert passed, f"{targets}: {detail}"


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("name,params,reduction,reads", [
    ("binary_crossentropy", {"from_logits": True}, "mean", 1),
    ("binary_crossentropy", {"from_logits": True, "pos_weight": [1, 3, 0.5, 2]}, "sum", 1),
    ("binary_crossentropy", {"from_logits": True}, "none", 2),
    ("categorical_crossentropy", {"from_logits": True}, "mean", 1),
    ("sparse_categorical_crossentropy", {"from_logits": True, "label_smoothing": 0.1}, "mean", 0),
    ("sparse_categorical_crossentropy", {"from_logits": True}, "none", 1),
    ("sparse_categorical_crossentropy", {"from_logits": True, "ignore_index": 3}, "mean", 1),
    ("binary_crossentropy", {}, "none", 1),
    ("binary_crossentropy", {"pos_weight": 2.0}, "mean", 2),
])
def test_torch_fused_kernels_read_what_they_do_not_check_themselves(name, params, reduction, reads):
    """A reduced loss of torch's fused logits kernels is finite only where no logit is infinite
    (or one cannot matter), so only y_true is read (one aminmax), and the loss: one scalar.
    Unreduced, or with ignore_index (an ignored row's +inf gives a NaN gradient under a finite
    loss), the logits are read too. Integer labels are read (cross_entropy would skip a label
    equal to its own ignore_index, -2**63 here), and probabilities are left to torch's BCE kernel, which
    raises outside [0, 1] (tests/test_inputs.py: the contract's error all the same). Finite
    or not, the numbers are the reference's. cross_entropy raises on every label >= C itself,
    so of the labels only the minimum is read (one ``min``) where they reach it; given an
    ignore_index, it raises on every other label out of range, and they are not read."""
    import torch
    rng = np.random.default_rng(5)
    loss = crossloss.get(name, reduction=reduction, **params)
    kind = "labels" if name.startswith("sparse") else "binary" if name.startswith("binary") else "distribution"
    for extreme in (False, True):
        y_true, y_pred = inputs(kind, "logits" if params.get("from_logits") else "probabilities", extreme, rng)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            out = loss(torch.as_tensor(y_true), torch.as_tensor(y_pred))
        counts = {event.key: event.count for event in prof.key_averages()}
        assert counts.get("aten::aminmax", 0) == reads, counts
        minimum_only = name.startswith("sparse") and "ignore_index" not in params
        assert counts.get("aten::min", 0) == minimum_only, counts
        with np.errstate(all="ignore"):
            expected = np.asarray(reference_for(name)(y_true, y_pred, reduction=reduction, **params), dtype=np.float64)
        passed, _, detail = compare(to_numpy(out), expected, "float64")
        assert passed, f"extreme={extreme}: {detail}"


@pytest.mark.skipif(not {"torch", "tensorflow"} <= set(BACKENDS), reason="needs torch and TensorFlow")
@pytest.mark.parametrize("params", [{}, {"ignore_index": 2, "squared": True}, {"ignore_index": 0, "per_class": False}])
@pytest.mark.parametrize("classes", [3, 5])
def test_tensorflow_dice_with_labels_on_large_inputs_has_the_right_value_and_gradient(classes, params, monkeypatch):
    """Beyond 2^15 pixels TensorFlow's segment sums are a weighted DenseBincount with a supplied
    gradient (the small cases of the parity report take unsorted_segment_sum); up to
    _MASKED_CLASSES classes before the pixels, a mask of the labels replaces the gather, and
    it is counted in bytes here (from _COUNT_IN_BYTES_FROM values; the parity report's small
    cases count the float mask)."""
    from crossloss.backends import tensorflow as tf_backend
    from crossloss.conformance.frameworks import traced, value_and_gradient
    masked = classes <= tf_backend._MASKED_CLASSES
    if masked:  # the path taken: no gather
        monkeypatch.setattr(tf_backend.TensorflowOps, "take_labels", None)
        monkeypatch.setattr(tf_backend, "_COUNT_IN_BYTES_FROM", 0)
    rng = np.random.default_rng(5)
    shape = (2, classes, 128, 160)  # 40960 labels: above the threshold
    assert shape[0] * shape[2] * shape[3] >= tf_backend._BINCOUNT_FROM
    labels = rng.integers(0, classes, (2, 128, 160))
    probs = rng.dirichlet(np.ones(classes), (2, 128, 160)).transpose(0, 3, 1, 2)
    loss = {b: crossloss.get("dice", backend=b, axis=1, **params) for b in ("tensorflow", "torch")}
    value, grad = value_and_gradient("tensorflow", loss["tensorflow"], *(to_backend("tensorflow", a, "float64")
                                                                        for a in (labels, probs)))
    torch_value, torch_grad = value_and_gradient("torch", loss["torch"], *(to_backend("torch", a, "float64")
                                                                         for a in (labels, probs)))
    expected = reference_for("dice")(labels, probs, axis=1, **params)
    for got, want in ((value, expected), (value, torch_value), (grad, torch_grad)):
        passed, _, detail = compare(np.asarray(got), np.asarray(want, dtype=np.float64), "float64")
        assert passed, detail
    float32 = [to_backend("tensorflow", a, "float32") for a in (labels, probs)]
    eager = to_numpy(loss["tensorflow"](*float32))
    for trace in ("tf.function(jit_compile=True)", "tf.function, unknown batch size"):
        passed, _, detail = compare(to_numpy(traced("tensorflow", trace, loss["tensorflow"], *float32)), eager, "float32")
        assert passed, f"{trace}: {detail}"


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="TensorFlow is not installed")
@pytest.mark.parametrize("shape,chunk", [((2, 3, 128, 160), 160), ((1, 2, 255, 4), 255), ((2, 3, 7, 11), 77),
                                         ((2, 3, 257, 1), None), ((2, 1, 5, 6), None)])
def test_tensorflow_counts_a_label_mask_in_bytes_exactly(shape, chunk, monkeypatch):
    """label_sums counts a large mask in uint8 sums of chunks of at most 255 values, then in
    int32: exact for random masks and all-True ones (a chunk of 255 Trues is the most a uint8
    holds). Where no chunk of 64 to 255 values divides the pixels (257; 30), and in a graph
    (its device is not known there, and no GPU kernel sums uint8), it leaves the count to the
    float mask (None)."""
    import tensorflow as tf
    from crossloss.backends import tensorflow as tf_backend
    monkeypatch.setattr(tf_backend, "_COUNT_IN_BYTES_FROM", 0)
    assert tf_backend._chunk_dividing(shape[2] * shape[3]) == chunk
    rng = np.random.default_rng(17)
    in_graph = []
    tf.function(lambda m: in_graph.append(tf_backend._count_true(m, (2, 3))) or 0)(tf.zeros(shape, tf.bool))
    assert in_graph == [None]
    for mask in (rng.random(shape) < 0.7, np.ones(shape, bool)):
        counts = tf_backend._count_true(tf.constant(mask), (2, 3))
        if chunk is None:
            assert counts is None
            continue
        np.testing.assert_array_equal(counts.numpy(), mask.sum(axis=(2, 3)))


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="TensorFlow is not installed")
@pytest.mark.parametrize("label", [257, -255, 2 ** 40 + 1])
def test_tensorflow_dice_mask_of_int8_labels_never_counts_a_wrapped_label(label):
    """Beyond 2^15 comparisons the mask compares int8 labels, where these labels wrap to class
    1. Read (eager), the label is refused by name; unread (value_checks="never", a graph),
    the loss is NaN, not a number that counted it in class 1."""
    import tensorflow as tf
    from crossloss.backends import tensorflow as tf_backend
    rng = np.random.default_rng(16)
    labels = rng.integers(0, 3, (2, 64, 96))
    assert labels.size * 3 > tf_backend._NARROW_COMPARISONS_FROM
    labels[1, 10, 20] = label
    probs = rng.dirichlet(np.ones(3), (2, 64, 96)).transpose(0, 3, 1, 2)
    y_true, y_pred = tf.constant(labels), tf.constant(probs, tf.float32)
    loss = crossloss.get("dice", backend="tensorflow", axis=1)
    with pytest.raises(crossloss.LossValueError, match=f"argument 'y_true'.*to {label}|from {label}"):
        loss(y_true, y_pred)
    with crossloss.options(value_checks="never"):
        assert np.isnan(float(loss(y_true, y_pred)))
    assert np.isnan(float(tf.function(loss)(y_true, y_pred)))


@pytest.mark.skipif(not {"torch", "tensorflow"} <= set(BACKENDS), reason="needs torch and TensorFlow")
@pytest.mark.parametrize("params", [{}, {"squared": True, "batch": True}])
def test_torch_dice_on_large_dense_inputs_sums_the_product_in_slices_with_the_right_gradient(params):
    """Above 16 MB a product is summed slice by slice on eager CPU torch (TensorFlow contracts
    with einsum): the value is the reference's and the gradients are equal."""
    from crossloss.backends import torch as torch_backend
    from crossloss.conformance.frameworks import value_and_gradient
    rng = np.random.default_rng(6)
    shape = (2, 3, 600, 600)
    assert math.prod(shape) * 8 > torch_backend._LARGE_TEMPORARY  # float64: sliced
    labels = rng.integers(0, 3, (2, 600, 600))
    one_hot = np.moveaxis(np.eye(3)[labels], -1, 1)
    probs = rng.dirichlet(np.ones(3), (2, 600, 600)).transpose(0, 3, 1, 2)
    results = {}
    for backend in ("torch", "tensorflow"):
        loss = crossloss.get("dice", backend=backend, axis=1, **params)
        results[backend] = value_and_gradient(backend, loss, *(to_backend(backend, a, "float64") for a in (one_hot, probs)))
    expected = reference_for("dice")(one_hot, probs, axis=1, **params)
    (value, grad), (tf_value, tf_grad) = results["torch"], results["tensorflow"]
    for got, want in ((value, expected), (tf_value, expected), (grad, tf_grad)):
        passed, _, detail = compare(np.asarray(got), np.asarray(want, dtype=np.float64), "float64")
        assert passed, detail


@pytest.mark.parametrize("shape, params", [
    ((300_000,), {"from_logits": True}),
    ((70_001, 4), {"from_logits": True, "pos_weight": [1, 3, 0.5, 2], "label_smoothing": 0.2}),
    ((20_000, 3, 5), {"from_logits": True, "pos_weight": 2.0, "neg_weight": [0.5, 1, 1.5, 1, 0.25]}),
])
def test_numpy_bce_with_logits_on_large_inputs_goes_in_slices_with_the_reference_values(shape, params, monkeypatch):
    """From 2^18 values NumPy's BCE with logits runs slice by slice (rows of the last axis where
    a weight has one per entry): the values, infinite logits' limits included, are the reference's."""
    from crossloss.backends import numpy as numpy_backend
    assert math.prod(shape) >= numpy_backend._SLICE_FROM and math.prod(shape) % numpy_backend._SLICE
    slices = []
    kernel = numpy_backend._bce_with_logits
    monkeypatch.setattr(numpy_backend, "_bce_with_logits", lambda *args: slices.append(args) or kernel(*args))
    rng = np.random.default_rng(7)
    logits = (rng.standard_normal(shape) * 4).astype(np.float32)
    logits.flat[::1001] = np.inf
    logits.flat[500::1001] = -np.inf
    targets = rng.integers(0, 2, shape).astype(np.float32)
    targets.flat[::7] = 0.3
    got = crossloss.get("binary_crossentropy", backend="numpy", reduction="none", **params)(targets, logits)
    assert len(slices) > math.prod(shape) // numpy_backend._SLICE
    expected = reference_for("binary_crossentropy")(targets, logits, reduction="none", **params)
    passed, _, detail = compare(got, np.asarray(expected, dtype=np.float64), "float32")
    assert passed and np.isinf(got).any(), detail


@pytest.mark.parametrize("weight", ["per class", "per entry", "per row"])
def test_numpy_bce_with_logits_kernel_in_slices_equals_it_whole(weight, monkeypatch):
    """The op table's kernel, as a loss of one's own calls it: sliced where its weights are one
    per entry of the last axis or one in all, whole otherwise (a per-entry or per-row weight
    broadcasts in ways a slice would not), and the same values bit for bit either way."""
    from crossloss.backends import numpy as numpy_backend
    rng = np.random.default_rng(8)
    shape = (70_001, 4)
    logits = (rng.standard_normal(shape) * 4).astype(np.float32)
    targets = rng.uniform(size=shape).astype(np.float32)
    pos_weight = {"per class": rng.uniform(size=4), "per entry": rng.uniform(size=shape), "per row":
                  rng.uniform(size=(shape[0], 1))}[weight].astype(np.float32)
    neg_weight = np.float32(1.5)
    calls = []
    kernel = numpy_backend._bce_with_logits
    monkeypatch.setattr(numpy_backend, "_bce_with_logits", lambda *args: calls.append(args) or kernel(*args))
    contiguous = numpy_backend.OPS.bce_with_logits_finite(targets, logits, pos_weight, neg_weight)
    assert len(calls) == (1 if weight != "per class" else -(-shape[0] // (numpy_backend._SLICE // 4)))
    strided = [np.stack([a, np.zeros_like(a)], axis=-1)[..., 0] for a in (targets, logits)]
    calls.clear()
    whole = numpy_backend.OPS.bce_with_logits_finite(*strided, pos_weight, neg_weight)
    assert len(calls) == 1 and len(calls[0]) == 4  # one call, given no output slice
    np.testing.assert_array_equal(contiguous, whole)
    x, y = logits.astype(np.float64), targets.astype(np.float64)  # softplus(-x) = -log sigmoid(x)
    expected = pos_weight * y * np.logaddexp(0, -x) + neg_weight * (1 - y) * np.logaddexp(0, x)
    np.testing.assert_allclose(contiguous, expected, rtol=1e-5, atol=1e-6)


OWN_BCE_KERNEL = [b for b in ("numpy", "tensorflow") if b in BACKENDS]  # the formula's op is the kernel


@pytest.mark.parametrize("backend", OWN_BCE_KERNEL)
@pytest.mark.parametrize("params", [{}, {"label_smoothing": 0.2}, {"pos_weight": [1, 3, 0.5, 2]},
                                    {"pos_weight": 2.0, "neg_weight": 0.5}])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bce_with_logits_reads_its_result_not_the_logits(backend, params, reduction, dtype, monkeypatch):
    """Reduced, NumPy's and TensorFlow's BCE with logits run the formula's kernel and sum on
    logits nobody read, and read the one-number result: the formula's numbers bit for bit
    (native_kernels=False). An infinite logit makes that result NaN; then the formula runs
    with its guards and gives the reference's limit, with no RuntimeWarning (inf - inf inside
    the kernel). Unreduced, the logits are read."""
    import warnings
    ops = crossloss.backends.load(backend).OPS
    reads = []
    range_reader = type(ops).range_reader

    def counted(self, like, *args, **kwargs):  # the checks choose their readers once per plan
        read = range_reader(self, like, *args, **kwargs)
        return read and (lambda x: reads.append(x) or read(x))
    monkeypatch.setattr(type(ops), "range_reader", counted)
    monkeypatch.setattr(crossloss.core, "_SHARED", {})  # plans of losses bound alike keep the reader they chose
    loss = crossloss.get("binary_crossentropy", backend=backend, from_logits=True, reduction=reduction, **params)
    rng = np.random.default_rng(9)
    for extreme in (False, True, False):  # one loss, one plan: what it reads is decided per call
        y_true, y_pred = (a.astype(dtype) for a in inputs("binary", "logits", extreme, rng))
        targets, logits = to_backend(backend, y_true, dtype), to_backend(backend, y_pred, dtype)
        reads.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = loss(targets, logits)
        assert [x is logits for x in reads] == ([True, False] if reduction == "none" else [False]), (extreme, reads)
        with crossloss.options(native_kernels=False):
            formula = loss(targets, logits)
        assert ops.dtype_name(got) == ops.dtype_name(formula) == dtype, (got, formula)
        got, formula = to_numpy(got), to_numpy(formula)
        assert np.array_equal(got, formula), (got, formula)
        expected = reference_for("binary_crossentropy")(y_true, y_pred, from_logits=True, reduction=reduction, **params)
        passed, _, detail = compare(got, np.asarray(expected, dtype=np.float64), dtype)
        assert passed, f"extreme={extreme}: {detail}"


@pytest.mark.parametrize("backend", OWN_BCE_KERNEL)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bce_with_logits_counts_huge_finite_logits_exactly_as_torch(backend, dtype):
    """Beyond +-finfo.max / 4 the formula clamps a finite logit; the reduced kernel, reading its
    result and not the logits, counts it exactly, as torch's fused kernel does (docs/semantics.md),
    up to finfo.max itself; where the sum overflows, the clamped formula's number stands.
    No RuntimeWarning either way."""
    import warnings
    biggest = float(np.finfo(dtype).max)
    loss = crossloss.get("binary_crossentropy", backend=backend, from_logits=True, reduction="sum")
    rest = math.log1p(math.exp(-3.0)) + math.log1p(math.exp(-2.0))  # the two other terms
    cases = [([-biggest / 3, -2.0, 3.0], [1.0, 0.0, 1.0], biggest / 3 + rest, True),
             ([biggest / 3, -2.0, 3.0], [0.0, 0.0, 1.0], biggest / 3 + rest, True),
             ([-biggest, -2.0, 3.0], [1.0, 0.0, 1.0], biggest + rest, True),
             ([biggest * 0.75, -2.0, 3.0], [0.0, 0.0, 1.0], biggest * 0.75 + rest, True),
             # 1.5 finfo.max in all: the sum overflows, and the formula clamps each to max / 4
             ([biggest * 0.75, biggest * 0.75, 3.0], [0.0, 0.0, 1.0], biggest / 2 + math.log1p(math.exp(-3.0)), False)]
    for logits, targets, expected, exact in cases:
        y_true, y_pred = (to_backend(backend, np.array(a, dtype), dtype) for a in (targets, logits))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = float(loss(y_true, y_pred))
        assert got == pytest.approx(expected, rel=1e-6), (logits, got)
        if exact and "torch" in BACKENDS:
            import torch
            on_torch = crossloss.get("binary_crossentropy", from_logits=True, reduction="sum")
            assert got == pytest.approx(float(on_torch(torch.tensor(targets, dtype=getattr(torch, dtype)),
                                                       torch.tensor(logits, dtype=getattr(torch, dtype)))), rel=1e-6)


@pytest.mark.parametrize("backend", [b for b in ("torch", "tensorflow") if b in BACKENDS])
def test_cached_scalar_constants_keep_the_sign_of_zero(backend):
    """Eager CPU calls reuse one constant per number; 0.0 and -0.0 are equal as keys but not as
    divisors: x / 0.0 and x / -0.0 are infinities of opposite signs."""
    ops = crossloss.backends.load(backend).OPS
    x = to_backend(backend, np.array([1.0, -2.0]), "float32")
    for _ in range(2):  # the second round reads the cache
        assert to_numpy(ops.div(x, 0.0)).tolist() == [math.inf, -math.inf]
        assert to_numpy(ops.div(x, -0.0)).tolist() == [-math.inf, math.inf]
        assert to_numpy(ops.affine(x, 2.0, -0.0)).tolist() == [2.0, -4.0]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape, axis", [((7, 5), 1), ((3, 4, 5), 1), ((2, 3, 4, 5), 3), ((5, 2, 3), 0)])
def test_take_along_axis_reads_the_entries_numpy_names(backend, shape, axis):
    """The backends gather one entry per position from flat positions (NumPy and TensorFlow)
    or a kernel (torch): the entries np.take_along_axis names, contiguous or not."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=shape)
    index = rng.integers(0, shape[axis], shape[:axis] + (1,) + shape[axis + 1:])
    ops = crossloss.backends.load(backend).OPS
    for values in (x, np.swapaxes(np.swapaxes(x, 0, -1).copy(), 0, -1)):  # C-ordered, then not
        got = to_numpy(ops.take_along_axis(to_backend(backend, values, "float64"), to_backend(backend, index, "int64"), axis))
        np.testing.assert_array_equal(got, np.take_along_axis(values, index, axis))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_filled_at_or_below_fills_the_bound_itself_and_keeps_nan(backend, dtype):
    """The -inf restore of a guarded log-softmax: value at and below the threshold, every other
    entry as it was (the next float above, -0.0, NaN); on torch both in place (a temporary)
    and not (a tensor autograd records)."""
    ops = crossloss.backends.load(backend).OPS
    bound = -float(np.finfo(dtype).max) / 8
    x = np.array([bound, np.nextafter(bound, 0, dtype=dtype), -np.inf, np.nan, -0.0, 1.0], dtype=dtype)
    want = [-math.inf, float(x[1]), -math.inf, math.nan, -0.0, 1.0]
    inputs = [to_backend(backend, x, dtype)]
    if backend == "torch":
        inputs.append(to_backend(backend, x, dtype).requires_grad_(True))
    for values in inputs:
        got = to_numpy(ops.filled_at_or_below_(values, bound, -math.inf)).tolist()
        np.testing.assert_array_equal(got, want)
        assert math.copysign(1, got[4]) == -1


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["sparse_categorical_crossentropy", "categorical_crossentropy", "kl_divergence"])
def test_a_nan_logit_gives_nan_where_nothing_reads_the_logits(backend, name):
    """Under value_checks="never" the guarded log-softmax runs (clamp, kernel, -inf restore):
    a NaN logit must come out as a NaN loss for its row, never as a number."""
    logits = np.array([[0.5, np.nan, -1.0], [2.0, 0.0, -3.0]], dtype="float32")
    y_true = np.array([0, 2]) if name.startswith("sparse") else np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], "float32")
    loss = crossloss.get(name, from_logits=True, reduction="none")
    with crossloss.options(value_checks="never"):
        got = to_numpy(loss(to_backend(backend, y_true, "float32"), to_backend(backend, logits, "float32")))
    assert np.isnan(got[0]) and np.isfinite(got[1]), got


LARGE_LOGIT_CASES = [("categorical_crossentropy", "distribution"), ("sparse_categorical_crossentropy", "labels"),
                     ("kl_divergence", "distribution"), ("binary_crossentropy", "binary")]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("loss, y_true_kind", LARGE_LOGIT_CASES)
def test_huge_finite_logits_give_one_answer_whether_or_not_the_checks_read_them(backend, loss, y_true_kind):
    """Float32 logits up to finfo.max / 32 (1.06e37) are exact on both paths; beyond it the
    guarded path reads a spread over finfo.max / 8 as infinite, and a path that read the logits
    must not give other numbers there than a graph or an accelerator (where nothing is read)
    gives. (Unreduced, so that no fused kernel reads its own result instead: see below.)"""
    rng = np.random.default_rng(8)
    within = np.array([[1e37, -1e37, 2.0, 0.0], [5e36, 1.0, -5e36, 3.0]])
    spread = np.array([[3e37, -3e37, 2.0, 0.0], [2e37, 1.0, -4e37, 3.0]])  # under finfo.max / 8 = 4.25e37
    clamped = np.array([[1e38, 9e37, 2.0, 0.0], [-1e38, 1.0, 5.0, 3.0]])
    y_true, _ = inputs(y_true_kind, "logits", False, rng)
    y_true = y_true[:2]
    fn = crossloss.get(loss, backend=backend, from_logits=True, reduction="none")
    expected = reference_for(loss)(y_true, within.astype(np.float32).astype(np.float64), from_logits=True, reduction="none")
    for logits in (within, spread, clamped):
        args = [to_backend(backend, y_true, "int64" if y_true_kind == "labels" else "float32"),
                to_backend(backend, logits, "float32")]
        checked = to_numpy(fn(*args))
        with crossloss.options(value_checks="never"):
            guarded = to_numpy(fn(*args))
        np.testing.assert_allclose(checked, guarded, rtol=1e-6)
        if logits is within:
            passed, _, detail = compare(checked, np.asarray(expected, dtype=np.float64), "float32")
            assert passed, detail


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignore_index", [None, 5])
@pytest.mark.parametrize("weighted", [False, True])
def test_torch_label_smoothing_of_large_finite_logits_does_not_overflow(reduction, ignore_index, weighted):
    """torch's cross_entropy smoothing labels adds a row's K log-probabilities before it scales
    them by e / K: at float32 logits of +-1e37 (within the fused kernels' finfo.max / 32) and
    21 classes the sum overflowed, and a path that ran the kernel on logits it had read (the
    unreduced kernel, a weighted call, or with ignore_index) gave inf where the formula,
    which scales each term first, gives 5.9e36."""
    import torch
    logits = np.full((3, 21), -1e37)
    logits[:, 0] = 1e37
    labels, weight = np.array([0, 1, 2]), np.array([1.0, 0.5, 2.0])
    loss = crossloss.get("scce", from_logits=True, label_smoothing=0.1, ignore_index=ignore_index, reduction=reduction)
    args = torch.as_tensor(labels), torch.as_tensor(logits, dtype=torch.float32)
    extra = (torch.as_tensor(weight),) if weighted else ()
    got = to_numpy(loss(*args, *extra))
    with crossloss.options(native_kernels=False):
        formula = to_numpy(loss(*args, *extra))
    expected = reference_for("sparse_categorical_crossentropy")(
        labels, logits.astype(np.float32).astype(np.float64), *((weight,) if weighted else ()), from_logits=True,
        label_smoothing=0.1, ignore_index=ignore_index, reduction=reduction)
    assert np.isfinite(got).all(), got
    np.testing.assert_allclose(got, formula, rtol=1e-6)
    passed, _, detail = compare(got, np.asarray(expected, dtype=np.float64), "float32")
    assert passed, detail


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("loss, y_true_kind", LARGE_LOGIT_CASES[:2] + LARGE_LOGIT_CASES[3:])
def test_torch_fused_kernels_are_exact_for_every_finite_logit(loss, y_true_kind):
    """Where a fused kernel reads its own result (eager CPU, mean), logits beyond
    +-finfo.max / 32 get the exact loss, not the guarded form's saturated one (docs/semantics.md)."""
    import torch
    rng = np.random.default_rng(9)
    y_true, _ = inputs(y_true_kind, "logits", False, rng)
    y_true = y_true[:2]
    fn = crossloss.get(loss, backend="torch", from_logits=True)
    for logits in ([[3e37, -3e37, 2.0, 0.0], [2e37, 1.0, -4e37, 3.0]], [[1e38, 9e37, 2.0, 0.0], [-1e38, 1.0, 5.0, 3.0]]):
        logits = np.array(logits, dtype=np.float32)
        got = to_numpy(fn(torch.as_tensor(y_true), torch.as_tensor(logits)))
        expected = reference_for(loss)(y_true, logits.astype(np.float64), from_logits=True)
        passed, _, detail = compare(got, np.asarray(expected, dtype=np.float64), "float32")
        assert passed, detail


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b in ("numpy", "torch")])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_inputs_unlike_the_latest_calls_take_their_own_plan(backend, reduction):
    """A call whose inputs match the latest call's signature reuses its plan without a lookup;
    any difference (shape, dtype, a (B, 1) label axis, a tensor subclass, a NumPy array for
    torch) must take the plan of its own signature, and give its own numbers and dtype."""
    rng = np.random.default_rng(7)
    name, params = "sparse_categorical_crossentropy", {"from_logits": True}
    loss = crossloss.get(name, reduction=reduction, **params)  # backend inferred: NumPy arrays may reach torch
    variants = [("float32", 5, "int64", None), ("float64", 5, "int64", None), ("float32", 3, "int64", None),
                ("float32", 5, "int32", None), ("float32", 5, "int64", "column"), ("float32", 5, "int64", None)]
    if backend == "torch":
        variants += [("float32", 5, "int64", "parameter"), ("float32", 5, "int64", "numpy"),
                     ("float32", 5, "int64", None)]
    for dtype, batch, label_dtype, form in variants * 2:
        labels = rng.integers(0, 4, batch)
        logits = rng.normal(size=(batch, 4)) * 3
        y_true = to_backend(backend, labels.astype(label_dtype), dtype)
        y_pred = to_backend(backend, logits, dtype)
        if form == "column":
            y_true = y_true.reshape(batch, 1)
        elif form == "parameter":
            import torch
            y_pred = torch.nn.Parameter(y_pred)
        elif form == "numpy":
            y_true, y_pred = labels.astype(label_dtype), logits.astype(dtype)
        out = loss(y_true, y_pred)
        expected = np.asarray(reference_for(name)(labels, logits.astype(dtype).astype(np.float64),
                                                  reduction=reduction, **params))
        assert str(out.dtype).removeprefix("torch.") == dtype, (dtype, batch, label_dtype, form, out.dtype)
        passed, _, detail = compare(to_numpy(out), expected, dtype)
        assert passed, f"{dtype} batch {batch} {label_dtype} {form}: {detail}"


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b in ("numpy", "torch")])
def test_settings_apply_to_each_call_of_a_reused_plan(backend):
    """The plan of the latest call is reused, but value_checks is read on every call."""
    loss = crossloss.get("categorical_crossentropy")
    y_true = to_backend(backend, np.array([[0.0, 1.0], [1.0, 0.0]]), "float32")
    valid = to_backend(backend, np.array([[0.3, 0.7], [0.6, 0.4]]), "float32")
    invalid = to_backend(backend, np.array([[0.3, 1.7], [0.6, 0.4]]), "float32")
    loss(y_true, valid)
    with crossloss.options(value_checks="never"):
        assert np.isfinite(to_numpy(loss(y_true, invalid)))  # unchecked: a number, as asked
    with pytest.raises(crossloss.LossValueError, match="'y_pred' expected probabilities in \\[0, 1\\]"):
        loss(y_true, invalid)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_labels_left_by_ignore_index_that_all_weigh_zero_give_a_mean_of_zero(backend, label_smoothing):
    """torch's fused cross_entropy divides by the kept labels' weights, 0 here: NaN, where the
    spec's mean over nothing is 0. With ignore_index it ran on read logits and its result was
    returned unread (found by the (N, H, W, C) cases' new draws)."""
    loss = crossloss.get("scce", from_logits=True, ignore_index=2, class_weight=[1.0, 0.0, 2.0],
                         label_smoothing=label_smoothing)
    logits = np.random.default_rng(2).normal(size=(4, 3))
    out = loss(to_backend(backend, np.array([1, 1, 2, 1]), "int64"), to_backend(backend, logits, "float64"))
    assert float(to_numpy(out)) == 0.0


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("labels,expected", [([0, -1, 2, 1], None), ([-1, -1, -1, -1], 0.0), ([0, -5, 1, 1], "-5"),
                                             ([0, 3, 1, -1], "3"), ([0, -100, 1, 1], "-100")])
def test_torch_cross_entropy_given_an_ignore_index_checks_the_labels_itself(labels, expected):
    """Unread labels under torch's kernel: it refuses every label out of range but the one it
    ignores (-100, its default, too), and a mean over no label (its NaN) is the spec's 0."""
    import torch
    logits = torch.tensor(np.random.default_rng(8).normal(size=(4, 3)))
    loss = crossloss.get("scce", from_logits=True, ignore_index=-1)
    if isinstance(expected, str):
        with pytest.raises(crossloss.LossValueError, match=f"ignore_index=-1; got values from {expected}|to {expected}$"):
            loss(torch.tensor(labels), logits)
        return
    kept = [i for i, label in enumerate(labels) if label != -1]
    reference = torch.nn.functional.cross_entropy(logits[kept], torch.tensor(labels)[kept]) if kept else 0.0
    torch.testing.assert_close(loss(torch.tensor(labels), logits), torch.as_tensor(reference, dtype=torch.float64))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_has_no_overflow_and_no_cancellation(backend, dtype):
    """1 / (1 + exp(-x)) overflows below -88 in float32; 1 - sigmoid(-x) cancels to 0 or to
    multiples of eps where sigmoid is small. The reference: e / (1 + e), e = exp(x) < 1."""
    x = np.array([-np.inf, -1e4, -700.0, -100.0, -30.0, -1.0, -1e-8, 0.0, 1e-8, 1.0, 30.0, 100.0, 1e4, np.inf, np.nan])
    x = x.astype(dtype).astype(np.float64)  # the values the backend gets
    with np.errstate(over="ignore", under="ignore"):
        e = np.exp(-np.abs(x))
        expected = np.where(x >= 0, 1.0, e) / (1.0 + e)
    ops = crossloss.backends.load(backend).OPS
    got = to_numpy(ops.sigmoid(to_backend(backend, x, dtype)))
    tiny = np.finfo(dtype).tiny  # below it float32 holds subnormals or 0 (TensorFlow's CPU kernels flush them)
    np.testing.assert_allclose(np.where(expected < tiny, 0.0, got), np.where(expected < tiny, 0.0, expected),
                               rtol=4 * np.finfo(dtype).eps, atol=0)
    assert np.isnan(got[-1]) and got[0] == 0.0 and got[-2] == 1.0


@pytest.mark.skipif(not {"torch", "tensorflow"} <= set(BACKENDS), reason="needs torch and TensorFlow")
@pytest.mark.parametrize("params, infinite", [({}, False), ({}, True), ({"class_weight": [1, 2, 0.5, 1, 3]}, False),
                                              ({"ignore_index": 2}, True)])
@pytest.mark.parametrize("batch, parts", [(5, 3), (2, 2)])
def test_tensorflow_log_softmax_over_a_leading_class_axis_goes_a_group_of_samples_at_a_time(
        batch, parts, params, infinite, monkeypatch):
    """From _PARTS_FROM values (lowered here) TensorFlow's sparse CE from logits with the class
    axis before the last takes each group of samples' log-softmax at the labels by reductions
    along the axis, no transposes: values and gradients are torch's and the reference's, the
    groups' sizes differ by at most one sample, and a graph keeps the whole-tensor kernel."""
    from crossloss.backends import tensorflow as tf_backend
    from crossloss.conformance.frameworks import traced, value_and_gradient
    size = batch * 5 * 6 * 7
    monkeypatch.setattr(tf_backend, "_PARTS_FROM", -(-size // parts))
    groups = []
    whole = tf_backend._shifted_log_softmax_at
    monkeypatch.setattr(tf_backend, "_shifted_log_softmax_at", lambda ops, x, *a: groups.append(x.shape[0]) or whole(ops, x, *a))
    rng = np.random.default_rng(11)
    logits = rng.normal(size=(batch, 5, 6, 7)) * 3
    labels = rng.integers(0, 5, (batch, 6, 7))
    if infinite:
        logits[0, 1, 2, 3], logits[1, :, 0, 0], logits[-1, 4, 5, 6] = math.inf, -math.inf, -math.inf
    loss = {b: crossloss.get("sparse_categorical_crossentropy", backend=b, axis=1, from_logits=True, **params)
            for b in ("tensorflow", "torch")}
    value, grad = value_and_gradient("tensorflow", loss["tensorflow"], *(to_backend("tensorflow", a, "float64")
                                                                        for a in (labels, logits)))
    assert sorted(groups, reverse=True) == [batch // parts + (i < batch % parts) for i in range(parts)]
    torch_value, torch_grad = value_and_gradient("torch", loss["torch"], *(to_backend("torch", a, "float64")
                                                                         for a in (labels, logits)))
    with np.errstate(all="ignore"):
        expected = reference_for("sparse_categorical_crossentropy")(labels, logits, axis=1, from_logits=True, **params)
    for got, want in ((value, expected), (value, torch_value), (grad, torch_grad)):
        passed, _, detail = compare(np.asarray(got), np.asarray(want, dtype=np.float64), "float64")
        assert passed, detail
    float32 = [to_backend("tensorflow", a, "float32") for a in (labels, logits)]
    eager = to_numpy(loss["tensorflow"](*float32))
    del groups[:]
    passed, _, detail = compare(to_numpy(traced("tensorflow", "tf.function(jit_compile=True)", loss["tensorflow"],
                                                *float32)), eager, "float32")
    assert passed and not groups, detail


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="TensorFlow is not installed")
def test_tensorflow_takes_log_softmax_whole_where_parts_would_not_help(monkeypatch):
    """_sample_parts splits only eager tensors of _PARTS_FROM values or more, with two samples or
    more and the class axis neither first nor last (there the kernel needs no transpose)."""
    import tensorflow as tf
    from crossloss.backends import tensorflow as tf_backend
    monkeypatch.setattr(tf_backend, "_PARTS_FROM", 100)
    x = tf.zeros((4, 5, 6))
    assert tf_backend._sample_parts(x, 1) == tf_backend._sample_parts(x, -2) == [2, 2]  # 120 values
    monkeypatch.setattr(tf_backend, "_PARTS_FROM", 50)
    assert tf_backend._sample_parts(x, 1) == [2, 1, 1]
    assert tf_backend._sample_parts(x, 2) is None and tf_backend._sample_parts(x, -1) is None
    assert tf_backend._sample_parts(x, 0) is None
    assert tf_backend._sample_parts(tf.zeros((1, 5, 60)), 1) is None
    assert tf_backend._sample_parts(tf.zeros((4, 5, 2)), 1) is None  # 40 values
    assert tf.function(lambda x: tf.constant(tf_backend._sample_parts(x, 1) is None))(x)


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("name, y_true", [("binary_crossentropy", "torch.randint(0, 2, (6, 4)).double()"),
                                          ("categorical_crossentropy", "torch.rand(6, 4, dtype=torch.float64)"),
                                          ("sparse_categorical_crossentropy", "torch.randint(0, 4, (6,))"),
                                          ("kl_divergence", "torch.rand(6, 4, dtype=torch.float64)")])
def test_torch_kernels_that_read_their_result_warn_of_nothing_in_training(name, y_true):
    """A fused logits kernel whose reduced result is read (float64 logits are left unread)
    reads it with Ops.number, item() on torch: torch warns, once a process (so in a process of
    its own here), when float() makes a tensor that requires grad a Python number."""
    code = ("import warnings, torch, crossloss; warnings.simplefilter('error'); "
            "x = torch.randn(6, 4, dtype=torch.float64, requires_grad=True); "
            f"crossloss.get({name!r}, backend='torch', from_logits=True)({y_true}, x).backward(); "
            "assert torch.isfinite(x.grad).all()")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
