"""The input contract on every backend: dispatch, conversion, dtypes, shapes and value checks."""
import math
import warnings

import numpy as np
import pytest

import crossloss
from crossloss import LossTypeError, LossValueError
from crossloss import backends
from crossloss.conformance.frameworks import DTYPES, to_backend, to_numpy
from crossloss.conformance.harness import TOLERANCES, reference_for

from conftest import BACKENDS


def is_backend_tensor(value, backend):
    return crossloss.backends.load(backend).OPS.is_tensor(value)


def test_backend_is_inferred_from_the_inputs(backend):
    y = to_backend(backend, np.array([0.0, 1.0, 2.0]), "float32")
    out = crossloss.get("mse")(y, y * 2)
    assert is_backend_tensor(out, backend)
    assert float(to_numpy(out)) == pytest.approx(5 / 3)


def test_numpy_and_numbers_join_the_tensor_framework(backend):
    y_pred = to_backend(backend, np.array([0.5, 1.5]), "float32")
    out = crossloss.get("huber")(np.array([0.0, 0.0]), y_pred, sample_weight=[1.0, 0.0])
    assert is_backend_tensor(out, backend)
    assert crossloss.backends.load(backend).OPS.dtype_name(out) == "float32"
    assert float(to_numpy(out)) == pytest.approx(0.125 / 2)


@pytest.mark.skipif(not {"torch", "tensorflow"} <= set(BACKENDS), reason="needs two frameworks to mix")
def test_two_frameworks_mixed_is_a_type_error():
    import tensorflow as tf
    import torch
    with pytest.raises(LossTypeError, match="cannot be mixed"):
        crossloss.get("mse")(torch.ones(2), tf.ones(2))


@pytest.mark.skipif(not {"torch", "tensorflow"} <= set(BACKENDS), reason="needs two frameworks to mix")
@pytest.mark.parametrize("backend,y_true,y_pred,sample_weight,argument", [
    ("numpy", "torch", "numpy", None, "y_true"), ("torch", "numpy", "tensorflow", None, "y_pred"),
    ("tensorflow", "torch", "torch", None, "y_true"), ("torch", "numpy", "numpy", "tensorflow", "sample_weight")])
def test_a_tensor_of_another_framework_than_backend_is_a_type_error(backend, y_true, y_pred, sample_weight, argument):
    """backend= wins, and it converts NumPy arrays; another framework's tensor is not converted
    (a torch tensor that requires grad has no NumPy view; a TensorFlow one would lose its graph)."""
    make = {name: lambda a, name=name: to_backend(name, a, "float32") for name in ("numpy", "torch", "tensorflow")}
    args = [make[kind](np.ones(3)) if kind else None for kind in (y_true, y_pred, sample_weight)]
    with pytest.raises(LossTypeError) as info:
        crossloss.get("mse", backend=backend)(*args[:2], sample_weight=args[2])
    assert f"mean_squared_error: argument '{argument}'" in str(info.value) and "got a " in str(info.value)


@pytest.mark.parametrize("y_true,sample_weight", [
    (np.array([1 + 5j, 2]), None), (np.array(["1", "2"]), None), (np.ones(2), np.array(["2", "1"])),
    (np.ones(2), np.array([1j, 1.0])), (None, None)])
def test_inputs_a_cast_would_change_or_guess_are_type_errors(backend, y_true, sample_weight):
    """Complex numbers lose their imaginary part in a cast to float, strings are parsed, and
    None is no array: each is refused, naming the argument."""
    argument = "y_true" if sample_weight is None else "sample_weight"
    y_pred = to_backend(backend, np.array([1.0, 2.0]), "float64")
    if y_true is not None and backend == "tensorflow" and y_true.dtype.kind == "U":
        import tensorflow as tf
        y_true = tf.constant(y_true)  # a TensorFlow string tensor
    with pytest.raises(LossTypeError) as info:
        crossloss.get("mse")(y_true, y_pred, sample_weight=sample_weight)
    assert f"mean_squared_error: argument '{argument}'" in str(info.value) and "got" in str(info.value)


@pytest.mark.parametrize("y_true,named", [([2 ** 70, 1], "the integer 1180591620717411303424, beyond int64"),
                                          ([[1, -(2 ** 64)]], "the integer -18446744073709551616"),
                                          ([1.0, "2"], "the entry '2' (str)"), ([1, None], "the entry None")])
def test_a_list_numpy_cannot_make_numeric_names_the_entry(backend, y_true, named):
    """A list with an integer beyond 64 bits, a string or None becomes dtype object (or a
    string dtype) in NumPy: the error says which entry did it."""
    y_pred = to_backend(backend, np.ones(np.shape(y_true)), "float64")
    with pytest.raises(LossTypeError) as info:
        crossloss.get("mse")(y_true, y_pred)
    assert "argument 'y_true' expected a real" in str(info.value) and named in str(info.value), str(info.value)


@pytest.mark.parametrize("backend,dtype", [(b, d) for b in BACKENDS for d in DTYPES[b]])
def test_half_precision_is_computed_in_float32(backend, dtype):
    expected = "float64" if dtype == "float64" else "float32"
    # float16 overflows at 65504: the squared error of 300 only fits in float32
    y_pred = to_backend(backend, np.array([300.0, -300.0]), dtype)
    out = crossloss.get("mse")(to_backend(backend, np.zeros(2), dtype), y_pred)
    assert crossloss.backends.load(backend).OPS.dtype_name(out) == expected
    assert float(to_numpy(out)) == 90000.0


def test_integer_targets_are_cast(backend):
    out = crossloss.get("bce")(np.array([1, 0, 1]), to_backend(backend, np.array([0.5, 0.5, 0.5]), "float64"))
    assert float(to_numpy(out)) == pytest.approx(np.log(2))


def test_b_against_b1_is_aligned_never_broadcast(backend):
    y_true = to_backend(backend, np.array([1.0, 2.0, 3.0]), "float64")
    y_pred = to_backend(backend, np.array([[1.0], [2.0], [5.0]]), "float64")
    for a, b in ((y_true, y_pred), (y_pred, y_true)):
        out = crossloss.get("mse", reduction="none")(a, b)
        assert to_numpy(out).size == 3
    assert float(to_numpy(crossloss.get("mse")(y_true, y_pred))) == pytest.approx(4 / 3)


@pytest.mark.parametrize("true_shape,pred_shape", [((3,), (4,)), ((3, 1), (1, 3)), ((2, 3), (3,)), ((3,), (3, 2))])
def test_mismatched_shapes_are_refused(backend, true_shape, pred_shape):
    with pytest.raises(LossValueError) as info:
        crossloss.get("mse")(to_backend(backend, np.zeros(true_shape), "float32"),
                             to_backend(backend, np.zeros(pred_shape), "float32"))
    message = str(info.value)
    assert "mean_squared_error" in message and "'y_true'" in message
    assert str(pred_shape) in message and str(true_shape) in message


@pytest.mark.parametrize("name,params,y_true,y_pred,argument", [
    ("bce", {}, [0.0, 1.0], [0.5, 1.5], "y_pred"),
    ("bce", {}, [0.0, 2.0], [0.5, 0.5], "y_true"),
    ("bce", {}, [0.0, 1.0], [0.5, np.nan], "y_pred"),
    ("bce", {"from_logits": True}, [0.0, -1.0], [3.0, -3.0], "y_true"),
    ("cce", {}, [[1.0, 0.0]], [[1.2, -0.2]], "y_pred"),
    ("kld", {}, [[1.5, -0.5]], [[0.5, 0.5]], "y_true"),
    ("scce", {}, [0, 3], [[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]], "y_true"),
    ("scce", {}, [0, -1], [[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]], "y_true"),
    ("scce", {"ignore_index": -100}, [0, -1], [[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]], "y_true"),
    ("scce", {}, [0.0, 1.5], [[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]], "y_true"),
    ("scce", {}, [0, 1], [[1.5, -0.5, 0.0], [0.2, 0.3, 0.5]], "y_pred"),
    ("scce", {"label_smoothing": 0.1}, [0, 1], [[0.5, 0.5, 0.0], [0.2, 0.3, 1.5]], "y_pred"),
    ("dice", {}, [[0.0, 1.0]], [[0.5, 1.5]], "y_pred"),
    ("dice", {"axis": 1}, [[0, 5]], [[[0.5, 0.5], [0.5, 0.5]]], "y_true"),
])
def test_values_outside_the_domain_are_refused(backend, name, params, y_true, y_pred, argument):
    y_true, y_pred = np.array(y_true), np.array(y_pred)
    loss = crossloss.get(name, **params)
    with pytest.raises(LossValueError) as info:
        loss(to_backend(backend, y_true, "float64"), to_backend(backend, y_pred, "float64"))
    assert crossloss.spec(name).name in str(info.value) and f"'{argument}'" in str(info.value)
    with pytest.raises(LossValueError):  # terms() (Keras, global means) never runs a fused kernel that checks
        loss.terms(to_backend(backend, y_true, "float64"), to_backend(backend, y_pred, "float64"))
    with crossloss.options(value_checks="never"):  # the switch turns crossloss's check off
        try:
            loss(to_backend(backend, y_true, "float64"), to_backend(backend, y_pred, "float64"))
        except LossValueError as error:  # only to name what a framework's own check refused (TensorFlow's
            # InvalidArgumentError escaped as it was)
            refusals = backends.load(backend).OPS.refusals
            assert isinstance(error.__context__, refusals), "value_checks='never' still checked"


@pytest.mark.parametrize("name,params", [
    ("scce", {"from_logits": True}), ("scce", {"from_logits": True, "class_weight": [1.0, 2.0, 0.5]}),
    ("scce", {"from_logits": True, "label_smoothing": 0.1}), ("scce", {"from_logits": True, "axis": 0}),
    ("scce", {}), ("scce", {"label_smoothing": 0.1, "class_weight": [1.0, 2.0, 0.5]}),
    ("scce", {"compat": "torch"}), ("scce", {"compat": "keras"}),
    ("dice", {"axis": 1}), ("dice", {"axis": 1, "activation": "softmax", "squared": True}),
])
@pytest.mark.parametrize("bad", [3, -1, -100])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_integer_labels_out_of_range_are_refused_on_every_path(backend, name, params, bad, reduction):
    """Integer labels left to torch's gathers on CPU (they check their indices) still fail with
    the contract's error, on every path: fused kernels, the formula, compat profiles. -100 is
    torch's own ignore_index, which its fused cross-entropy skips unless kept from it."""
    params = dict(params)
    if bad == -100 and params.get("compat") == "torch":
        params["ignore_index"] = None  # compat='torch' ignores -100 by default, as torch does
    axis = params.get("axis", -1)
    y_pred = np.full((4, 3, 2) if name == "dice" else (3, 3), 1 / 3)
    labels = np.zeros(np.delete(y_pred.shape, axis), dtype=np.int64)
    labels.flat[1] = bad
    loss = crossloss.get(name, reduction=reduction, **params)
    with pytest.raises(LossValueError) as info:
        loss(to_backend(backend, labels, "int64"), to_backend(backend, y_pred, "float32"))
    assert "'y_true'" in str(info.value) and f"{min(bad, 0)} to {max(bad, 0)}" in str(info.value)


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_torch_cross_entropy_refuses_label_minus_100_where_no_label_is_read(reduction):
    """value_checks="never" reads nothing, as on an accelerator: the labels must still not
    reach torch's fused cross_entropy, which would skip -100 (its own ignore_index) and
    return a number without that entry."""
    import torch
    loss = crossloss.get("scce", from_logits=True, reduction=reduction)
    with crossloss.options(value_checks="never"), pytest.raises(LossValueError, match="'y_true'.* -100 to 2"):
        loss(torch.tensor([0, -100, 2]), torch.zeros(3, 3))


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "uint8", "bool", "int64"])
@pytest.mark.parametrize("params", [{}, {"class_weight": [1.0, 2.0, 0.5]}, {"label_smoothing": 0.1}])
def test_torch_cross_entropy_reads_no_label_narrower_than_int64(dtype, params):
    """torch's fused cross_entropy skips the label equal to its ignore_index. crossloss gives
    it the least int64, which no label narrower than int64 is once cast: those labels go
    unread (int64 ones have their minimum read), and every label out of range, -100 too, is
    still refused with the contract's error."""
    import torch
    loss = crossloss.get("scce", from_logits=True, **params)
    logits = torch.tensor(np.random.default_rng(0).normal(size=(4, 3)), dtype=torch.float32)
    labels = torch.tensor([0, 1, 1, 0] if dtype == "bool" else [0, 2, 1, 0], dtype=getattr(torch, dtype))
    loss(labels, logits)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:  # as test_shortcuts counts
        found = loss(labels, logits)
    counts = {event.key: event.count for event in prof.key_averages()}
    assert "aten::cross_entropy_loss" in counts and "aten::aminmax" not in counts, counts
    assert counts.get("aten::min", 0) == (dtype == "int64"), counts
    weight = torch.tensor(params["class_weight"]) if "class_weight" in params else None
    expected = torch.nn.functional.cross_entropy(logits.double(), labels.long(), weight.double() if weight is not None
                                                 else None, label_smoothing=params.get("label_smoothing", 0.0))
    np.testing.assert_allclose(found.item(), expected.item(), rtol=1e-6)
    for bad in (-1, -100, 3, torch.iinfo(labels.dtype).min) if dtype != "bool" else ():
        if not torch.iinfo(labels.dtype).min <= bad < 0 and bad != 3:  # (uint8 holds no negative label)
            continue
        wrong = labels.clone()
        wrong[1] = bad
        with pytest.raises(LossValueError, match=f"'y_true' expected integer labels in \\[0, 3\\); got values from "
                                                 f"{min(bad, 0)} to {max(bad, 1)}"):
            loss(wrong, logits)


# (loss, params, y_true, y_pred, what is bad): "x" marks the bad value, a NaN or a
# probability outside [0, 1] whose log (or log of 1 - p) is no number either
_LOG_P, _LOG_1M = (np.nan, -0.5), (np.nan, 1.5)
_BAD_PROBABILITIES = [(*case, bad) for *case, values in [
    ("cce", {}, [[0.0, 1.0], [1.0, 0.0]], [[0.5, "x"], [0.3, 0.7]], _LOG_P),
    ("scce", {}, [1, 0], [[0.5, "x"], [0.3, 0.7]], _LOG_P),
    ("bce", {}, [[0.0, 1.0], [1.0, 0.0]], [[0.5, "x"], [0.3, 0.7]], _LOG_P),
    ("bce", {}, [[0.0, 1.0], [1.0, 0.0]], [["x", 0.5], [0.3, 0.7]], _LOG_1M),
    ("bce", {"label_smoothing": 0.1}, [[0.0, 1.0], [1.0, 0.0]], [[0.5, "x"], [0.3, 0.7]], _LOG_P),
    ("kld", {}, [[0.5, 0.5], [0.2, 0.8]], [[0.5, "x"], [0.3, 0.7]], _LOG_P),
    ("kld", {}, [[0.5, "x"], [0.2, 0.8]], [[0.5, 0.5], [0.3, 0.7]], _LOG_P),  # p of KL(p || q)
] for bad in values]


def _filled(values, bad):
    return np.array([[bad if v == "x" else v for v in row] for row in values] if isinstance(values[0], list) else values)


@pytest.mark.parametrize("name,params,y_true,y_pred,bad", _BAD_PROBABILITIES)
def test_a_bad_probability_that_is_not_read_makes_the_loss_nan(backend, name, params, y_true, y_pred, bad):
    """Where nothing is read (value_checks="never", accelerators, graphs), no check refuses
    a NaN or a probability outside [0, 1]: the loss is NaN, never a number. The floors of
    log p and log(1 - p) once took such a value for p = 0 (or 1) and gave 100."""
    loss = crossloss.get(name, reduction="sum", **params)
    y_true = to_backend(backend, _filled(y_true, bad), "int64" if name == "scce" else "float64")
    y_pred = to_backend(backend, _filled(y_pred, bad), "float64")
    with crossloss.options(value_checks="never"):
        try:
            out = loss(y_true, y_pred)
        except LossValueError as error:  # torch's BCE kernel refuses it itself: then said by name
            assert (backend, name) == ("torch", "bce") and "'y_pred'" in str(error)
        else:
            assert np.isnan(to_numpy(out)), to_numpy(out)
    traced = {"torch": lambda f: __import__("torch").compile(f, backend="eager", fullgraph=True),
              "tensorflow": lambda f: __import__("tensorflow").function(f, jit_compile=True)}.get(backend)
    if traced is not None:  # a graph reads nothing in the default mode
        assert np.isnan(to_numpy(traced(lambda t, p: loss(t, p))(y_true, y_pred)))


@pytest.mark.skipif(not {"torch", "tensorflow"} <= set(BACKENDS), reason="needs torch and tensorflow")
@pytest.mark.parametrize("framework", ["torch", "tensorflow"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["bce", "cce"])
def test_a_negative_probability_near_0_makes_the_loss_nan_where_a_slope_is_taken(framework, dtype, name):
    """Where a derivative may be taken, the floor's cut entries (p <= 3.7e-44) keep their
    values on the way to the log: a negative p stays NaN (a version that took them as 0 gave
    -100 for p = -0.5). On TensorFlow's CPU kernels, which read subnormals as 0 (its float64
    log too), a negative subnormal is -0.0; torch reads its sign."""
    negatives = [-0.5, -float(np.finfo(dtype).tiny)]  # the smallest normal
    if framework == "torch":
        negatives += [-float(np.finfo(dtype).smallest_subnormal), -1e-44]
    for bad in negatives:
        y_pred = np.array([[bad, 1.0], [0.5, 0.5]])
        y_true = np.array([[1.0, 0.0], [0.0, 1.0]])
        with crossloss.options(value_checks="never"):
            if framework == "torch":
                import torch
                value = crossloss.get(name)(torch.tensor(y_true), torch.tensor(y_pred, dtype=getattr(torch, dtype),
                                                                               requires_grad=True)).detach().numpy()
            else:
                import tensorflow as tf
                p = tf.constant(y_pred, dtype)
                with tf.GradientTape() as tape:
                    tape.watch(p)
                    value = crossloss.get(name)(tf.constant(y_true), p).numpy()
        assert np.isnan(value), (bad, value)


def test_torch_profile_ignores_label_minus_100_by_default(backend):
    """torch's ignore_index default; crossloss's own default ignores nothing (above)."""
    probs = np.array([[0.5, 0.4, 0.1], [0.2, 0.3, 0.5], [0.1, 0.6, 0.3]])
    loss = crossloss.get("scce", compat="torch")  # logits, class axis 1
    out = loss(to_backend(backend, np.array([1, -100, 2]), "int64"), to_backend(backend, np.log(probs), "float64"))
    assert float(to_numpy(out)) == pytest.approx(-(np.log(0.4) + np.log(0.3)) / 2)


def test_ignored_labels_pass_the_check(backend):
    probs = to_backend(backend, np.array([[0.5, 0.5], [0.2, 0.8]]), "float64")
    out = crossloss.get("scce", ignore_index=-100)(to_backend(backend, np.array([1, -100]), "int64"), probs)
    assert float(to_numpy(out)) == pytest.approx(np.log(2))


@pytest.mark.parametrize("name,params,y_true,y_pred,sample_weight,argument", [
    ("cce", {"class_weight": [1.0, 2.0]}, np.eye(3), np.full((3, 3), 1 / 3), None, "class_weight"),
    ("bce", {"pos_weight": [1.0, 2.0]}, np.ones((2, 3)), np.full((2, 3), 0.5), None, "pos_weight"),
    ("cce", {"axis": 2}, np.eye(3), np.full((3, 3), 1 / 3), None, "axis"),
    ("scce", {}, np.zeros((3, 2)), np.full((3, 3), 1 / 3), None, "y_true"),
    ("mse", {}, np.zeros((4, 2)), np.zeros((4, 2)), np.ones(3), "sample_weight"),
    ("dice", {"ignore_index": 1}, np.zeros((2, 3)), np.full((2, 3), 0.5), None, "ignore_index"),
    ("dice", {"axis": 0}, np.zeros((2, 3)), np.full((2, 3), 0.5), None, "axis"),
    ("dice", {"axis": None, "activation": "softmax"}, np.zeros((2, 3)), np.zeros((2, 3)), None, "axis"),
    ("dice", {"batch": True}, np.zeros((2, 3)), np.full((2, 3), 0.5), np.ones(2), "sample_weight"),
])
def test_bad_call_arguments_are_refused(backend, name, params, y_true, y_pred, sample_weight, argument):
    with pytest.raises(LossValueError) as info:
        crossloss.get(name, **params)(to_backend(backend, y_true, "float64"), to_backend(backend, y_pred, "float64"),
                                      sample_weight=sample_weight)
    message = str(info.value)
    assert crossloss.spec(name).name in message and f"'{argument}'" in message and "got" in message


@pytest.mark.parametrize("name,param,y_true", [("scce", "class_weight", np.array([0, 1])),
                                              ("bce", "pos_weight", np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]]))])
def test_weights_beyond_the_compute_dtype_are_refused(backend, name, param, y_true):
    """1e39 is inf in float32, and the loss NaN: refused there, taken as it is in float64."""
    y_pred = np.array([[0.5, 0.3, 0.2], [0.2, 0.5, 0.3]])
    loss = crossloss.get(name, **{param: [1.0, 1e39, 1.0]})
    with pytest.raises(LossValueError, match=f"'{param}' expected weights up to 3.40282e\\+38 .* float32"):
        loss(to_backend(backend, y_true, "float32"), to_backend(backend, y_pred, "float32"))
    assert np.isfinite(float(to_numpy(loss(to_backend(backend, y_true, "float64"), to_backend(backend, y_pred, "float64")))))


@pytest.mark.parametrize("param", ["smooth_nr", "smooth_dr"])
def test_dice_smoothing_beyond_the_compute_dtype_is_refused(backend, param):
    """smooth_dr=1e39 gave NaN and smooth_nr=1e39 -inf for float32 inputs, where float64's loss
    is 1.0 and -2.2e38 (a helper's audit): refused there, as weights are."""
    y_true = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    y_pred = np.array([[[0.7, 0.2], [0.3, 0.8]]])
    loss = crossloss.get("dice", **{param: 1e39})
    for dtype in ("float32", "float16"):
        with pytest.raises(LossValueError, match=f"^dice: argument '{param}' expected a number up to 3.40282e\\+38 "
                                                 f"for inputs computed in float32; got 1e\\+39$"):
            loss(to_backend(backend, y_true, dtype), to_backend(backend, y_pred, dtype))
    assert np.isfinite(float(to_numpy(loss(to_backend(backend, y_true, "float64"), to_backend(backend, y_pred, "float64")))))


@pytest.mark.parametrize("weights", [[1e-50] * 3, [1.0, 1e-40, 1.0]])
def test_weights_that_vanish_in_the_compute_dtype_are_refused(backend, weights):
    """1e-50 is 0 in float32: sum(w_t l) / sum(w_t) was 0 / 0, the mean over nothing, 0 with no
    slope, where the weighted mean (scale-free) is the unweighted one; TensorFlow's CPU kernels
    read the subnormal 1e-40 as 0 too. float64 holds both."""
    y_true, y_pred = np.array([0, 1]), np.array([[0.5, 0.3, 0.2], [0.2, 0.5, 0.3]])
    loss = crossloss.get("scce", class_weight=weights)
    with pytest.raises(LossValueError, match="'class_weight' expected weights of 0 or from 1.17549e-38 .* float32"):
        loss(to_backend(backend, y_true, "float32"), to_backend(backend, y_pred, "float32"))
    got = float(to_numpy(loss(to_backend(backend, y_true, "float64"), to_backend(backend, y_pred, "float64"))))
    w = np.array(weights)[y_true]
    assert got == pytest.approx(-np.sum(w * np.log([0.5, 0.5])) / np.sum(w), rel=1e-12)


def test_labels_with_a_size1_class_axis_are_accepted(backend):
    probs = to_backend(backend, np.array([[0.25, 0.75], [0.5, 0.5]]), "float64")
    a = crossloss.get("scce")(to_backend(backend, np.array([1, 0]), "int64"), probs)
    b = crossloss.get("scce")(to_backend(backend, np.array([[1], [0]]), "int64"), probs)
    assert float(to_numpy(a)) == float(to_numpy(b)) == pytest.approx(-(np.log(0.75) + np.log(0.5)) / 2)


def test_all_ignored_batch_gives_zero(backend):
    probs = to_backend(backend, np.array([[0.25, 0.75], [0.5, 0.5]]), "float64")
    labels = to_backend(backend, np.array([-1, -1]), "int64")
    for params in ({}, {"class_weight": [1.0, 2.0]}, {"label_smoothing": 0.1}):
        assert float(to_numpy(crossloss.get("scce", ignore_index=-1, **params)(labels, probs))) == 0.0


def test_a_mean_over_zero_total_class_weight_is_zero(backend):
    """Every label's class weight 0: the count, sum(w_y), is 0. The smoothing term alone has a
    nonzero sum, which torch divides by 0 (NaN); a mean over nothing is 0 (docs/semantics.md)."""
    probs = to_backend(backend, np.array([[0.25, 0.75, 0.0], [0.5, 0.25, 0.25]]), "float64")
    labels = to_backend(backend, np.array([0, 0]), "int64")
    loss = crossloss.get("scce", class_weight=[0.0, 1.0, 1.0], label_smoothing=0.2)
    assert float(to_numpy(loss(labels, probs))) == 0.0
    assert float(to_numpy(crossloss.get("scce", class_weight=[0.0, 1.0, 1.0], label_smoothing=0.2,
                                        reduction="sum")(labels, probs))) > 0.0  # there is a sum to divide
    from crossloss.distributed import global_mean
    assert float(to_numpy(global_mean(*loss.parts(labels, probs)))) == 0.0  # and so is the global mean


@pytest.mark.parametrize("backend", [b for b in ("torch", "tensorflow") if b in BACKENDS])
@pytest.mark.parametrize("params", [{"label_smoothing": 0.2}, {"label_smoothing": 0.2, "from_logits": True}, {}])
def test_a_mean_over_zero_total_class_weight_has_zero_gradient(backend, params):
    """0 / 0 is guarded in the divisor too: a where that only masks the quotient leaves its
    slope NaN."""
    probs = np.array([[0.25, 0.7, 0.05], [0.5, 0.25, 0.25]])
    y_pred = np.log(probs) if params.get("from_logits") else probs
    loss = crossloss.get("scce", class_weight=[0.0, 1.0, 1.0], **params)
    labels = np.array([0, 0])
    if backend == "torch":
        import torch
        x = torch.tensor(y_pred, requires_grad=True)
        value = loss(torch.as_tensor(labels), x)
        value.backward()
        grad = x.grad.numpy()
    else:
        import tensorflow as tf
        x = tf.constant(y_pred)
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = loss(tf.constant(labels), x)
        grad = tape.gradient(value, x).numpy()
    assert float(to_numpy(value)) == 0.0 and np.all(grad == 0.0), grad


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log_of_1_minus_a_tiny_probability_keeps_its_digits(backend, dtype):
    """-log(1 - p) is p to first order: log(1 - p) loses it (1 - 1e-17 is 1), log1p(-p) does not.
    The harness's absolute tolerance is larger than these losses."""
    p = np.array([1e-17, 1e-12, 1e-8, 1e-5]).astype(dtype)
    found = to_numpy(crossloss.get("bce", reduction="none")(to_backend(backend, np.zeros(4), dtype),
                                                             to_backend(backend, p, dtype)))
    np.testing.assert_allclose(found, -np.log1p(-p.astype(np.float64)), rtol=1e-6, atol=0)


@pytest.mark.parametrize("loss", crossloss.list_losses())
def test_inputs_are_never_modified(backend, loss):
    """Formulas overwrite their own temporaries; never the caller's arrays."""
    from crossloss.conformance import cases
    for case in cases.random_cases(loss):
        arrays = [to_backend(backend, a, "float64") if a is not None else None
                  for a in (case.y_true, case.y_pred, case.sample_weight)]
        before = [to_numpy(a).copy() if a is not None else None for a in arrays]
        for reduction in ("mean", "none"):
            crossloss.get(case.loss, reduction=reduction, **case.params)(*arrays)
        for a, b in zip(arrays, before):
            if a is not None:
                np.testing.assert_array_equal(to_numpy(a), b)


def test_python_and_0d_scalars(backend):
    as_input = (lambda v: v) if backend == "numpy" else (lambda v: to_backend(backend, np.asarray(v), "float64"))
    assert float(to_numpy(crossloss.get("mse")(as_input(1.0), as_input(2.0)))) == 1.0
    assert float(to_numpy(crossloss.get("huber")(as_input(1.0), as_input(3.0)))) == 1.5
    assert float(to_numpy(crossloss.get("bce")(as_input(1.0), as_input(0.25)))) == pytest.approx(np.log(4))
    for params in ({}, {"pos_weight": 2.0}, {"label_smoothing": 0.2}):  # the logits form on 0-d inputs
        expected = to_numpy(crossloss.get("bce", from_logits=True, **params)(np.array([1.0]), np.array([0.3])))[()]
        got = to_numpy(crossloss.get("bce", from_logits=True, **params)(as_input(1.0), as_input(0.3)))
        assert float(got) == pytest.approx(float(expected), rel=1e-15)
    softplus = np.log1p(np.exp(-0.3))  # -log sigmoid(0.3)
    assert float(to_numpy(crossloss.get("bce", from_logits=True)(as_input(1.0), as_input(0.3)))) == pytest.approx(softplus)


def test_sparse_ce_checks_the_probabilities_it_reads(backend):
    """Without label smoothing only the labelled probability enters the loss: only it is checked."""
    probs = to_backend(backend, np.array([[0.5, 0.5, 7.0], [0.25, 0.75, -3.0]]), "float64")
    out = crossloss.get("scce")(to_backend(backend, np.array([0, 1]), "int64"), probs)
    assert float(to_numpy(out)) == pytest.approx(-(np.log(0.5) + np.log(0.75)) / 2)


@pytest.mark.parametrize("name,y_true", [
    ("bce", [[1.0, 0.0, 0.0]]), ("cce", [[1.0, 0.0, 0.0]]), ("scce", [0]), ("kld", [[1.0, 0.0, 0.0]])])
def test_float32_subnormal_probabilities_meet_the_floor_at_most(backend, name, y_true):
    """p = 1e-39 is a float32 subnormal: -log p = 89.8 where the framework keeps subnormals,
    and 100 (the floor) on TensorFlow, whose CPU kernels read it as 0; never more than 100."""
    y_pred = np.array([[1e-39, 0.5, 0.5]], np.float32)  # made in float32: TensorFlow's own cast would flush it
    loss = crossloss.get(name, reduction="sum")
    out = float(to_numpy(loss(to_backend(backend, np.array(y_true), "float32"), to_backend(backend, y_pred, "float32"))))
    rest = -np.log(0.5) * 2 if name == "bce" else 0.0  # BCE's two zero targets at p = 0.5
    floored = 100.0 if backend == "tensorflow" else -np.log(np.float32(1e-39).astype(np.float64))
    assert out == pytest.approx(floored + rest, rel=1e-5)


@pytest.mark.parametrize("class_weight", [2.0, np.float32(2.0)])
@pytest.mark.parametrize("params", [{}, {"from_logits": True}, {"from_logits": True, "label_smoothing": 0.1},
                                    {"ignore_index": 2}])
def test_one_class_weight_for_every_class_equals_its_copies(backend, class_weight, params):
    """A scalar class_weight weighs every class alike, as categorical CE's does (an array of
    one is refused: tests/test_api.py); sparse CE's mean divides by the weights' sum, so only
    "sum" and "none" show it."""
    labels = to_backend(backend, np.array([1, 0, 2]), "int64")
    probs = np.array([[0.2, 0.5, 0.3], [0.6, 0.2, 0.2], [0.1, 0.1, 0.8]])
    y_pred = to_backend(backend, np.log(probs) if params.get("from_logits") else probs, "float64")
    for reduction in ("mean", "sum", "none"):
        one = crossloss.get("scce", class_weight=class_weight, reduction=reduction, **params)(labels, y_pred)
        copies = crossloss.get("scce", class_weight=[2.0] * 3, reduction=reduction, **params)(labels, y_pred)
        np.testing.assert_allclose(to_numpy(one), to_numpy(copies), rtol=1e-12)


@pytest.mark.parametrize("name,param", [("scce", "class_weight"), ("bce", "pos_weight")])
def test_weights_given_as_tensors_of_any_dtype_are_their_values(backend, name, param):
    """Per-class weights may be tensors of the inputs' framework in any real dtype, bfloat16
    too (NumPy has no bfloat16; it is read as float64)."""
    weights = [1.0, 4.0, 2.0]  # exact in every dtype
    y_true = np.array([2, 0, 1]) if name == "scce" else np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    y_pred = np.array([[0.2, 0.5, 0.3], [0.6, 0.2, 0.2], [0.1, 0.1, 0.8]])[:len(y_true)]
    params = {"from_logits": True} if name == "bce" else {}
    as_list = crossloss.get(name, **{param: weights}, **params)
    for dtype in ["float16", "float32", "int64"] + ([] if backend == "numpy" else ["bfloat16"]):
        as_tensor = crossloss.get(name, **{param: to_backend(backend, np.array(weights), dtype)}, **params)
        np.testing.assert_allclose(to_numpy(as_tensor(y_true, y_pred)), to_numpy(as_list(y_true, y_pred)),
                                   rtol=1e-12, err_msg=dtype)


def test_python_numbers_for_float64_inputs_are_read_as_float64(backend):
    """A Python number or list as sample_weight or y_true beside a float64 y_pred is read as
    NumPy reads it: torch and TensorFlow made it float32 first (0.1 weighed 0.10000000149)."""
    y_pred = to_backend(backend, np.array([1.0, 2.0, 4.0]), "float64")
    mse = crossloss.get("mse")
    assert float(to_numpy(mse(to_backend(backend, np.zeros(3), "float64"), y_pred, 0.1))) == pytest.approx(
        0.1 * 21 / 3, rel=1e-15)
    expected = np.mean((np.array([1.0, 2.0, 4.0]) - np.array([0.1, 0.2, 0.3])) ** 2)
    assert float(to_numpy(mse([0.1, 0.2, 0.3], y_pred))) == pytest.approx(expected, rel=1e-15)
    assert float(to_numpy(mse(to_backend(backend, np.zeros(3), "float64"), y_pred, [0.1, 0.2, 0.3]))) == \
        pytest.approx((0.1 + 0.8 + 4.8) / 3, rel=1e-15)


def test_dice_sums_over_millions_of_labelled_pixels_keep_float32_precision(backend):
    """The label path's per-class sums add one pixel at a time: in float32 they lost 2e-5 at
    2^22 pixels and stopped growing at 2^24 (a perfect prediction scored 0.09). They are
    accumulated in float64 and agree with the float64 reference to float32's precision."""
    rng = np.random.default_rng(4)
    probs = rng.uniform(size=(1, 2, 1 << 22)).astype(np.float32)
    probs /= probs.sum(axis=1, keepdims=True)
    labels = rng.integers(0, 2, (1, 1 << 22))
    out = to_numpy(crossloss.get("dice", axis=1, reduction="none")(to_backend(backend, labels, "int64"),
                                                                      to_backend(backend, probs, "float32")))
    expected = reference_for("dice")(labels, probs.astype(np.float64), axis=1, reduction="none")
    np.testing.assert_allclose(out, expected, rtol=5e-7)


@pytest.mark.parametrize("dtype", ["float32", "int64", "bool"])
def test_a_one_class_dice_mask_without_its_class_axis_is_the_mask(backend, dtype):
    """With one class, y_pred's shape without the class axis is the mask itself (as (B,) goes
    with (B, 1)): read as integer labels it would be class 0 everywhere, whatever its values."""
    rng = np.random.default_rng(2)
    p = to_backend(backend, rng.uniform(size=(2, 4, 4, 1)), "float64")
    loss = crossloss.get("dice")
    for mask in (rng.uniform(size=(2, 4, 4)) < 0.5, np.zeros((2, 4, 4), bool)):
        with_axis = loss(to_backend(backend, mask[..., None], dtype), p)
        without = loss(to_backend(backend, mask, dtype), p)
        assert float(to_numpy(without)) == pytest.approx(float(to_numpy(with_axis)), rel=1e-12)


def test_a_label_shape_error_names_every_shape_it_takes(backend):
    probs = to_backend(backend, np.full((4, 3), 1 / 3), "float64")
    with pytest.raises(LossValueError) as info:  # one-hot targets are not sparse CE's labels
        crossloss.get("scce")(to_backend(backend, np.eye(3)[[0, 1, 2, 1]], "float64"), probs)
    assert "(4,)" in str(info.value) and "(4, 1)" in str(info.value) and "got shape (4, 3)" in str(info.value)
    with pytest.raises(LossValueError) as info:
        crossloss.get("dice")(to_backend(backend, np.zeros((4, 2)), "float64"), probs)
    assert "(4,)" in str(info.value) and "(4, 1)" in str(info.value) and "(4, 3)" in str(info.value)


@pytest.mark.parametrize("name", ["mse", "huber", "bce"])
def test_a_per_sample_weight_with_a_trailing_axis_of_1_weighs_each_sample(backend, name):
    """(B, 1) against a (B, C) loss is (B,) (Keras users pass it so); (B, 2) against C = 3 is refused."""
    rng = np.random.default_rng(8)
    y_true, y_pred = (to_backend(backend, rng.uniform(size=(6, 3)), "float64") for _ in range(2))
    w = rng.uniform(size=6)
    for reduction in ("mean", "none"):
        loss = crossloss.get(name, reduction=reduction)
        np.testing.assert_allclose(to_numpy(loss(y_true, y_pred, sample_weight=w[:, None])),
                                   to_numpy(loss(y_true, y_pred, sample_weight=w)), rtol=1e-12)
    with pytest.raises(LossValueError, match="sample_weight"):
        crossloss.get(name)(y_true, y_pred, sample_weight=np.ones((6, 2)))


def test_dice_without_background_needs_a_second_class(backend):
    with pytest.raises(LossValueError) as info:
        crossloss.get("dice", include_background=False)(to_backend(backend, np.zeros((2, 4, 4, 1)), "float32"),
                                                        to_backend(backend, np.full((2, 4, 4, 1), 0.1), "float32"))
    assert "'include_background'" in str(info.value) and "one class" in str(info.value)


@pytest.mark.parametrize("dtype,big", [("float32", 1e36), ("float64", 1e306)])
@pytest.mark.parametrize("class_weight", [None, [1.0] * 1000])
def test_label_smoothing_at_huge_finite_logits_is_finite(backend, dtype, big, class_weight):
    """e/K sum_c log q_c: the sum of 1000 logs near -1e36 overflows float32 before its scale."""
    x = np.zeros((1, 1000))
    x[0, 7] = big
    loss = crossloss.get("scce", from_logits=True, label_smoothing=0.1, class_weight=class_weight)
    out = float(to_numpy(loss(to_backend(backend, np.array([3]), "int64"), to_backend(backend, x, dtype))))
    assert out == pytest.approx(0.9 * big + 0.1 * 999 / 1000 * big, rel=1e-5)


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("shape,axis", [((2, 4, 1024, 1024), 1), ((2, 1 << 20, 4), -1)])
def test_float32_dice_sums_of_millions_of_values_stay_accurate(backend, squared, shape, axis):
    """A sum that adds one value at a time drifts in float32 (NumPy's and TensorFlow's einsum:
    1.2e-4 and 2.6e-4 relative for sums of squares); the reference takes the same values in float64."""
    rng = np.random.default_rng(5)
    y_pred = rng.uniform(size=shape)
    y_true = (rng.uniform(size=y_pred.shape) > 0.5).astype(np.float64)
    loss = crossloss.get("dice", axis=axis, squared=squared, reduction="none")
    exact = reference_for("dice")(y_true, y_pred.astype(np.float32).astype(np.float64), axis=axis, squared=squared,
                                  reduction="none")
    got = to_numpy(loss(to_backend(backend, y_true, "float32"), to_backend(backend, y_pred, "float32")))
    np.testing.assert_allclose(got, exact, rtol=2e-6)


@pytest.mark.parametrize("targets", ["labels", "dense"])
@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("layout", ["class_last", "class_first", "short_rows", "one_axis", "volume"])
def test_float32_dice_of_equal_values_over_a_million_pixels(backend, targets, squared, layout):
    """Equal values are the worst case of a sum that adds one at a time: an undecided model's
    0.1 / 0.9 over 1024 x 1024 pixels, class axis last, came out 4e-2 off on NumPy and
    TensorFlow. The reference is the closed form of the sums in float64. "short_rows": 8192
    rows of 128, whose sums TensorFlow adds in float64 (in float32: 1.6e-6 off)."""
    check_dice_of_equal_values(backend, targets, squared, layout)


def check_dice_of_equal_values(backend, targets, squared, layout):
    pixels = {"class_last": (1024, 1024), "class_first": (1024, 1024), "short_rows": (8192, 128), "one_axis": (1 << 20,),
              "volume": (64, 128, 128)}[layout]
    axis = 1 if layout in ("class_first", "short_rows") else -1
    p1 = float(np.float32(0.9))
    labels = np.zeros((1,) + pixels, np.int64)
    labels.reshape(-1)[::2] = 1  # half the pixels are class 1
    y_pred = np.stack([np.full(labels.shape, 1 - p1, np.float32), np.full(labels.shape, p1, np.float32)], axis=axis)
    y_true = labels if targets == "labels" else np.stack([labels == 0, labels == 1], axis=axis).astype(np.float32)
    count, half = labels.size, labels.size // 2
    p = np.array([float(np.float32(1 - p1)), p1])
    intersection = p * half
    predicted = (p * p if squared else p) * count
    exact = 1 - (2 * intersection + 1e-5) / (predicted + half + 1e-5)
    loss = crossloss.get("dice", axis=axis, squared=squared, reduction="none")
    got = to_numpy(loss(to_backend(backend, y_true, "float32"), to_backend(backend, y_pred, "float32")))[0]
    # a recorded divergence (docs/semantics.md): TensorFlow's einsum adds a row of pixels one at a time
    # (without oneDNN; with it the product is reduced)
    rows = backend == "tensorflow" and axis == 1 and not crossloss.backends.load("tensorflow")._ONEDNN
    np.testing.assert_allclose(got, exact, rtol=pixels[-1] * np.finfo(np.float32).eps / 8 if rows else 1e-6)


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="needs TensorFlow")
@pytest.mark.parametrize("onednn", [False, True])
def test_tensorflow_dice_product_takes_either_contraction(onednn, monkeypatch):
    """TensorFlow's Dice product over trailing axes is an einsum without oneDNN and a reduced
    product under it, whichever is the faster there: a machine's suite runs one, so both run
    here. Each gives the reference's values and gradients; over rows of 1024 equal pixels,
    einsum holds its recorded bound (W eps / 8) and the reduced product 1e-6."""
    import tensorflow as tf
    monkeypatch.setattr(crossloss.backends.load("tensorflow"), "_ONEDNN", onednn)
    rng = np.random.default_rng(9)
    y_pred = rng.dirichlet(np.ones(3), (2, 40, 50)).transpose(0, 3, 1, 2)
    y_true = (rng.uniform(size=y_pred.shape) > 0.5).astype(np.float64)
    for squared in (False, True):
        loss = crossloss.get("dice", axis=1, squared=squared, reduction="none")
        p = tf.Variable(y_pred)
        with tf.GradientTape() as tape:
            value = tf.reduce_sum(loss(tf.constant(y_true), p))
        expected = reference_for("dice")(y_true, y_pred, axis=1, squared=squared, reduction="none")
        np.testing.assert_allclose(value.numpy(), np.sum(expected), rtol=1e-12)
        if "torch" in BACKENDS:  # the gradient against torch's
            import torch
            q = torch.tensor(y_pred, requires_grad=True)
            crossloss.get("dice", axis=1, squared=squared, reduction="none")(torch.tensor(y_true), q).sum().backward()
            np.testing.assert_allclose(tape.gradient(value, p).numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-15)
    for squared in (False, True):  # (the bound follows the patched _ONEDNN)
        check_dice_of_equal_values("tensorflow", "dense", squared, "class_first")


@pytest.mark.parametrize("smooth_nr,expected", [(0.0, math.nan), (1e-5, -math.inf)])
def test_dice_without_a_denominator_smoothing_is_the_formulas_value_on_an_empty_mask(backend, smooth_nr, expected):
    """smooth_dr=0 is allowed (spec: >= 0); an empty mask with an empty prediction is then
    1 - (0 + smooth_nr) / 0, as its documentation says, on every backend alike."""
    empty = np.zeros((1, 4, 2))
    loss = crossloss.get("dice", smooth_nr=smooth_nr, smooth_dr=0.0, reduction="none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's, of the 0/0 or x/0 asked for
        got = to_numpy(loss(to_backend(backend, empty, "float32"), to_backend(backend, empty, "float32")))
    np.testing.assert_array_equal(got, np.full((1, 2), expected))
    if backend == "torch":  # where a slope is wanted, it is taken from 1 - M / D: that must not touch the value
        import torch
        got = loss(torch.zeros(1, 4, 2), torch.zeros(1, 4, 2, requires_grad=True)).detach().numpy()
    elif backend == "tensorflow":
        import tensorflow as tf
        p = tf.zeros((1, 4, 2))
        with tf.GradientTape() as tape:
            tape.watch(p)
            got = loss(tf.zeros((1, 4, 2)), p).numpy()
    np.testing.assert_array_equal(got, np.full((1, 2), expected))


@pytest.mark.parametrize("targets", ["labels", "dense"])
@pytest.mark.parametrize("pixels", [128, 1000, 4095])
def test_float32_dice_of_equal_values_over_a_few_thousand_pixels(backend, targets, pixels):
    """From 128 values a float32 sum adds in float64 too: below 4096 it had been one float32
    sum, one value at a time (NumPy's and TensorFlow's along a strided axis, torch's segment
    sums of labels), 7 to 33 times the parity report's float32 tolerance for a confident
    0.91 over 1000 to 4095 pixels, where 1 - Dice cancels. The reference is the closed form."""
    v = float(np.float32(0.91))
    labels = np.zeros((1, pixels), np.int64)  # every pixel is class 0
    y_pred = np.stack([np.full(labels.shape, v, np.float32), np.full(labels.shape, 1 - v, np.float32)], axis=-1)
    y_true = labels if targets == "labels" else np.stack([labels == 0, labels == 1], axis=-1).astype(np.float32)
    p = np.array([v, float(np.float32(1 - v))]) * pixels
    exact = 1 - (2 * np.array([p[0], 0.0]) + 1e-5) / (p + np.array([pixels, 0.0]) + 1e-5)
    got = to_numpy(crossloss.get("dice", reduction="none")(to_backend(backend, y_true, "float32"),
                                                           to_backend(backend, y_pred, "float32")))[0]
    rtol, atol = TOLERANCES["float32"]
    np.testing.assert_allclose(got, exact, rtol=rtol, atol=atol)


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("name,y_true", [("scce", [0, 1]), ("cce", [[1.0, 0.0], [0.0, 1.0]]), ("mse", 0.5)])
def test_inputs_on_two_torch_devices_are_refused(name, y_true):
    """torch would not compare them: labels on meta made sparse CE 100 with an uninitialised
    gradient, one-hot targets on meta a CE of y_true = 1."""
    import torch
    y_true = torch.tensor(y_true)
    y_pred = torch.tensor([[0.3, 0.7], [0.6, 0.4]]) if y_true.dim() else torch.tensor(0.2)
    for true_device, pred_device in (("meta", "cpu"), ("cpu", "meta")):
        with pytest.raises(LossValueError, match=f"'y_true' expected a tensor on y_pred's device, {pred_device}; "
                                                 f"got a tensor on {true_device}"):
            crossloss.get(name)(y_true.to(true_device), y_pred.to(pred_device))


@pytest.mark.parametrize("dtype,label,ignore", [("uint8", 255, -1), ("int8", -1, 255), ("uint8", 156, -100),
                                                ("int16", -1, 65535), ("uint64", 2 ** 64 - 1, -1)])
@pytest.mark.parametrize("name", ["scce", "dice"])
def test_a_narrow_label_that_wraps_onto_ignore_index_is_refused(backend, dtype, label, ignore, name):
    """uint8 255 is no -1: a framework comparing them wraps -1 to 255, and the label passed the
    check (then a raw gather error on TensorFlow, a skipped label after a cast to int64)."""
    labels = to_backend(backend, np.array([0, label, 2, 0], dtype), "float32")
    probs = to_backend(backend, np.array([[0.2, 0.3, 0.5], [0.1, 0.6, 0.3], [0.3, 0.3, 0.4], [0.5, 0.25, 0.25]]),
                       "float64")
    with pytest.raises(LossValueError, match=f"'y_true' expected integer labels in \\[0, 3\\) or ignore_index={ignore}; "
                                             "got values from ") as info:
        crossloss.get(name, ignore_index=ignore)(labels, probs)
    # exactly: torch's uint64 labels were read through float64, and shown to 6 digits
    assert str(info.value).endswith(f"got values from {min(label, 0)} to {max(label, 2)}")


@pytest.mark.parametrize("labels", [[2 ** 63, 2 ** 64 - 1, 2 ** 63 + 5], [7, 2 ** 63 + 1, 3, 2 ** 64 - 2]])
def test_uint64_labels_from_2_63_are_shown_exactly(backend, labels):
    """Their range is read from their patterns as int64 on torch (where those from 2^63 are
    negative), not through float64, which rounded them to 6 digits in the message."""
    y_true = to_backend(backend, np.array(labels, np.uint64), "float32")
    with pytest.raises(LossValueError, match=rf"got values from {min(labels)} to {max(labels)}$"):
        crossloss.get("scce")(y_true, to_backend(backend, np.full((len(labels), 3), 1 / 3), "float64"))


@pytest.mark.parametrize("ignore,label", [(None, 2 ** 64 - 100), (-1, 2 ** 64 - 1), (-100, 2 ** 64 - 100),
                                          (None, 2 ** 63)])
@pytest.mark.parametrize("name,params", [("scce", {"from_logits": True}), ("scce", {}),
                                         ("dice", {"activation": "softmax", "axis": -1})])
def test_a_uint64_label_from_2_63_is_no_negative_index(backend, name, params, ignore, label):
    """The cast to int64 wraps 2**64 - 100 to -100, which torch's fused cross-entropy skips
    (its own ignore_index), and 2**64 - 1 to a user's ignore_index=-1: a row left out of the
    mean silently, where the labels went unread (the kernel was trusted to refuse them). The
    labels' check refuses it; unread (value_checks="never") it is an index out of range."""
    labels = to_backend(backend, np.array([0, 1, label, 2], np.uint64), "float32")
    probabilities = np.array([[0.2, 0.3, 0.5], [0.1, 0.6, 0.3], [0.3, 0.3, 0.4], [0.5, 0.25, 0.25]])
    logits = to_backend(backend, np.log(probabilities) if params else probabilities, "float32")
    loss = crossloss.get(name, ignore_index=ignore, **params)
    with pytest.raises(LossValueError, match="'y_true' expected integer labels in \\[0, 3\\)") as info:
        loss(labels, logits)
    assert float(str(info.value).rsplit(" to ", 1)[1]) == pytest.approx(label, rel=1e-5)
    with crossloss.options(value_checks="never"):
        try:
            unread = float(loss(labels, logits))
        except (ValueError, IndexError, RuntimeError) as error:  # the contract's error, or the framework's
            unread = error
    assert not isinstance(unread, float) or np.isnan(unread), unread


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("dtype", ["uint16", "uint32", "uint64"])
@pytest.mark.parametrize("name", ["scce", "dice"])
def test_wide_unsigned_torch_labels_are_read_with_ignore_index(dtype, name):
    """torch has no min/max kernels for these dtypes: the read widens them."""
    import torch
    labels = np.array([0, 1, 255, 2])
    probs = torch.tensor([[0.2, 0.3, 0.5], [0.1, 0.6, 0.3], [0.3, 0.3, 0.4], [0.5, 0.25, 0.25]], dtype=torch.float64)
    loss = crossloss.get(name, ignore_index=255)
    expected = float(loss(torch.as_tensor(labels), probs))
    assert float(loss(torch.as_tensor(labels.astype(dtype)), probs)) == expected
    with pytest.raises(LossValueError, match="got values from 0 to 7$"):
        loss(torch.as_tensor(np.array([0, 7, 255, 2], dtype)), probs)


@pytest.mark.parametrize("y_true,y_pred,got", [
    ([0.0, 1.0], [0.1, 1.0000001], "got values from 0.1 to 1.00000012"),  # float32's; not "to 1"
    ([0.0, 1.0], [0.1, np.nan], "got values including NaN"),
])
def test_a_refused_value_is_shown_as_what_it_is(backend, y_true, y_pred, got):
    with pytest.raises(LossValueError) as info:
        crossloss.get("bce")(to_backend(backend, np.array(y_true), "float32"),
                             to_backend(backend, np.array(y_pred), "float32"))
    assert str(info.value).endswith(got)


def test_a_refused_label_is_shown_exactly(backend):
    labels = to_backend(backend, np.array([0, 2 ** 32 + 1]), "float32")
    with pytest.raises(LossValueError, match="got values from 0 to 4294967297$"):
        crossloss.get("scce")(labels, to_backend(backend, np.array([[0.5, 0.5], [0.5, 0.5]]), "float32"))


def test_a_ragged_list_is_refused_by_name():
    with pytest.raises(LossValueError, match="mean_squared_error: argument 'y_true' expected an array.*got a list"):
        crossloss.get("mse")([[0.0, 1.0], [1.0]], np.zeros((2, 2)))


# What a mutation run found no test for: each test fails on one mutant of the code.

@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
def test_a_framework_weight_moves_a_numpy_call_to_its_framework_after_a_plain_call():
    """The latest call's plan is reused only without a weight: a torch weight makes the call torch's."""
    import torch
    loss = crossloss.get("mse")
    assert isinstance(loss(np.zeros(3), np.ones(3)), np.floating)
    assert isinstance(loss(np.zeros(3), np.ones(3), torch.ones(3)), torch.Tensor)


@pytest.mark.skipif(not {"torch", "tensorflow"} <= set(BACKENDS), reason="needs torch and tensorflow")
def test_a_weight_of_another_framework_is_refused_after_a_call_of_one():
    import tensorflow as tf
    import torch
    loss = crossloss.get("mse")
    loss(torch.zeros(3), torch.ones(3))
    with pytest.raises(LossTypeError, match="'sample_weight' expected a torch tensor like 'y_true' .frameworks cannot be mixed"):
        loss(torch.zeros(3), torch.ones(3), tf.ones(3))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_weight_with_more_axes_than_the_loss_is_refused(backend):
    y, p, w = (to_backend(backend, a, "float64") for a in (np.zeros(3), np.ones(3), np.ones((3, 3))))
    with pytest.raises(LossValueError, match="'sample_weight' expected a scalar or an array whose shape is a prefix"):
        crossloss.get("mse", reduction="none")(y, p, w)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bad", [1.5, math.nan])
def test_an_ignored_entrys_probabilities_are_not_read(backend, bad):
    """Sparse CE on probabilities reads the label's probability; an ignored entry's row had
    its class 0 read instead (the label set to 0 for the gather): 1.5 there was refused, at
    class 1 not, and under "never" a NaN there gave the row a NaN slope (a helper's audit)."""
    labels = np.array([0, 1, 2, 1])  # entry 2 is ignored
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [bad, 0.3, 0.3], [0.3, 0.3, 0.4]])
    expected = reference_for("scce")(labels, probabilities, ignore_index=2)
    loss = crossloss.get("scce", ignore_index=2)
    for mode in ("auto", "never"):
        with crossloss.options(value_checks=mode):
            got = to_numpy(loss(to_backend(backend, labels, "int64"), to_backend(backend, probabilities, "float64")))
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    if backend == "torch":
        import torch
        p = torch.tensor(probabilities, requires_grad=True)
        with crossloss.options(value_checks="never"):
            loss(torch.tensor(labels), p).backward()
        np.testing.assert_array_equal(p.grad[2].numpy(), 0.0)
    elif backend == "tensorflow":
        import tensorflow as tf
        p = tf.constant(probabilities)
        with tf.GradientTape() as tape, crossloss.options(value_checks="never"):
            tape.watch(p)
            value = loss(tf.constant(labels), p)
        np.testing.assert_array_equal(tape.gradient(value, p).numpy()[2], 0.0)


def test_bool_labels_against_an_ignore_index_they_cannot_hold_are_checked_as_labels(backend):
    """ignore_index=5 cannot be a bool: the labels are range-checked without comparing with it
    (TensorFlow would fail to convert 5 to a bool)."""
    y, p = to_backend(backend, np.array([True, False]), "float32"), to_backend(backend, np.ones((2, 1)), "float32")
    with pytest.raises(LossValueError, match=r"integer labels in \[0, 1\) or ignore_index=5; got values from"):
        crossloss.get("scce", ignore_index=5)(y, p)


@pytest.mark.parametrize("name,y_pred", [("scce", np.full((2, 3), 1 / 3)), ("dice", np.full((2, 3, 4), 1 / 3))])
def test_labels_of_minus_100_are_refused_with_torchs_default_named(backend, name, y_pred):
    """-100 is torch's ignore_index by default, and crossloss assumes none: a migration's
    padded labels meet this error first, which now says so (a helper's audit)."""
    labels = np.array([-100, 1]) if name == "scce" else np.array([[-100, 1, 2, 0], [0, 1, 1, 2]])
    with pytest.raises(LossValueError, match=r"got values from -100 to 2? ?\(-100 is torch's default ignore_index, "
                                             r"which crossloss does not assume: pass ignore_index=-100\)$|"
                                             r"got values from -100 to \d \(-100 is torch's default"):
        crossloss.get(name, axis=1)(to_backend(backend, labels, "int64"), to_backend(backend, y_pred, "float32"))
    with pytest.raises(LossValueError, match=r"got values from -3 to \d$"):  # no hint for another value
        crossloss.get(name, axis=1)(to_backend(backend, labels + 97 * (labels < 0), "int64"),
                                    to_backend(backend, y_pred, "float32"))


@pytest.mark.parametrize("name,y_pred", [("scce", np.zeros((2, 0))), ("dice", np.zeros((2, 0, 4)))])
def test_labels_against_an_empty_class_axis_are_refused_for_the_axis(backend, name, y_pred):
    """The message read "expected integer labels in [0, 0)", a range, for a class axis of size 0."""
    labels = np.zeros((2,) if name == "scce" else (2, 4), np.int64)
    with pytest.raises(LossValueError, match=f"^{crossloss.spec(name).name}: argument 'y_pred' expected a class axis "
                                             "of one class or more for integer labels; got a class axis of size 0$"):
        crossloss.get(name, axis=1)(to_backend(backend, labels, "int64"), to_backend(backend, y_pred, "float32"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_bool_labels_out_of_range_against_a_bool_ignore_index_are_refused_as_labels(backend):
    """With one class, True is out of range unless it is ignored: ignore_index=0 leaves it
    to the contract's error (TensorFlow raised its own TypeError comparing a bool with 0),
    ignore_index=1 leaves the False row, whose loss is -log 1 = 0."""
    y, p = to_backend(backend, np.array([True, False]), "float32"), to_backend(backend, np.ones((2, 1)), "float32")
    with pytest.raises(LossValueError, match=r"integer labels in \[0, 1\) or ignore_index=0; got values from 0 to 1"):
        crossloss.get("scce", ignore_index=0)(y, p)
    assert float(crossloss.get("scce", ignore_index=1)(y, p)) == 0.0


def test_dice_refuses_a_negative_axis_that_names_the_batch_axis():
    with pytest.raises(LossValueError, match="'axis' expected a class axis other than the batch axis 0"):
        crossloss.get("dice", axis=-2)(np.eye(3)[[0, 1, 2, 0]], np.full((4, 3), 1 / 3))


@pytest.mark.parametrize("backend", BACKENDS)
def test_inputs_of_another_dtype_get_their_own_plan(backend):
    """A call reuses the latest call's plan only for inputs of its dtypes: float64 targets
    with float32 predictions are computed in float32, fractional labels after integer ones
    are refused as such."""
    mse = crossloss.get("mse")
    mse(*(to_backend(backend, a, "float32") for a in (np.zeros(3), np.ones(3))))
    result = mse(to_backend(backend, np.zeros(3), "float64"), to_backend(backend, np.ones(3), "float32"))
    assert "float32" in str(result.dtype)  # numpy, torch.float32, <dtype: 'float32'>
    scce, p = crossloss.get("scce"), to_backend(backend, np.full((2, 2), 0.5), "float64")
    scce(to_backend(backend, np.array([0, 1]), "float64"), p)
    with pytest.raises(LossValueError, match="labels with a fractional part"):
        scce(to_backend(backend, np.array([0.5, 1.0]), "float64"), p)


@pytest.mark.parametrize("framework", [b for b in ("torch", "tensorflow") if b in BACKENDS])
def test_a_framework_weight_leaves_later_numpy_calls_to_numpy(framework):
    """NumPy inputs with a framework's weight run on that framework for that call only; a
    later call of NumPy inputs alone, by any loss, is NumPy's again (float32 subnormals are
    0 on TensorFlow's CPU kernels: 100 where NumPy gives 89.8)."""
    y, p = np.array([1.0], np.float32), np.array([1e-39], np.float32)
    crossloss.get("mse")(np.zeros(3), np.ones(3), sample_weight=to_backend(framework, np.ones(3), "float64"))
    out = crossloss.get("bce")(y, p)
    assert isinstance(out, np.floating)
    assert float(out) == pytest.approx(-np.log(np.float64(np.float32(1e-39))), rel=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_numpy_arrays_of_negative_strides_join_any_framework(backend):
    """np.flip and a[::-1] are views with negative strides, which torch cannot wrap."""
    a, b, w = np.array([1.0, 2.0, 4.0]), np.array([0.0, 1.0, 1.0]), np.array([1.0, 2.0, 3.0])
    expected = np.sum(w[::-1] * (a[::-1] - b) ** 2) / 3
    tensor_b = to_backend(backend, b, "float64")
    for y_true, sample_weight in ((np.flip(a), w[::-1]), (a[::-1], np.flip(w))):
        got = crossloss.get("mse")(y_true, tensor_b, sample_weight=sample_weight)
        assert float(to_numpy(got)) == pytest.approx(expected)
        got = crossloss.get("mse", backend=backend)(y_true, b, sample_weight=sample_weight)
        assert float(to_numpy(got)) == pytest.approx(expected)
    labels, p = to_backend(backend, np.array([1, 0]), "int64"), np.array([[0.9, 0.1], [0.2, 0.8]])
    got = crossloss.get("scce")(labels, p[::-1])
    assert float(to_numpy(got)) == pytest.approx(-np.log(0.8 * 0.9) / 2)  # rows swapped: 0.8 and 0.9 picked


@pytest.mark.parametrize("backend", BACKENDS)
def test_read_only_numpy_arrays_join_any_framework_without_a_warning(backend):
    """torch warned that writing to a read-only array's tensor is undefined: crossloss writes no input."""
    a = np.array([1.0, 2.0, 4.0])
    a.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = crossloss.get("mse")(a, to_backend(backend, np.zeros(3), "float64"), sample_weight=a)
    assert float(to_numpy(got)) == pytest.approx((1.0 + 8.0 + 64.0) / 3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_numpy_arrays_of_the_other_byte_order_join_any_framework(backend):
    """A big-endian array (read from a file) met torch's "byte order different from the native
    byte order" ValueError, naming nothing; as inputs, labels and weights it joins now."""
    a, b, w = np.array([1.0, 2.0, 4.0], ">f8"), np.array([0.0, 1.0, 1.0]), np.array([1.0, 2.0, 3.0], ">f4")
    expected = np.sum(w.astype(float) * (a.astype(float) - b) ** 2) / 3
    got = crossloss.get("mse")(a, to_backend(backend, b, "float64"), sample_weight=w)
    assert float(to_numpy(got)) == pytest.approx(expected)
    labels, p = np.array([1, 0], ">i8"), to_backend(backend, np.array([[0.9, 0.1], [0.2, 0.8]]), "float64")
    assert float(to_numpy(crossloss.get("scce")(labels, p))) == pytest.approx(-np.log(0.1 * 0.2) / 2)


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
def test_meta_weights_are_refused_by_name():
    """A meta tensor has no values: as per-class weights (read at get()) and as a 0-d weight
    of inputs elsewhere it is refused naming the argument, not with torch's copy error."""
    import torch
    meta = torch.ones(3, device="meta")
    for name, param in (("scce", "class_weight"), ("bce", "pos_weight"), ("cce", "class_weight")):
        with pytest.raises(LossValueError, match=f"argument '{param}' expected .*a tensor with values"):
            crossloss.get(name, **{param: meta})
    with pytest.raises(LossValueError, match="'sample_weight' expected a tensor on y_pred's device, cpu, or a 0-d one "
                                             "with a value; got a tensor of shape \\(\\) on meta"):
        crossloss.get("mse")(torch.zeros(3), torch.ones(3), sample_weight=torch.tensor(2.0, device="meta"))
    on_meta = crossloss.get("mse")(torch.zeros(3, device="meta"), torch.ones(3, device="meta"),
                                   sample_weight=torch.tensor(2.0))
    assert on_meta.is_meta and on_meta.shape == ()


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("argument", ["y_true", "y_pred", "sample_weight"])
@pytest.mark.parametrize("kind,got", [("masked", "a masked array"), ("matrix", "an np.matrix")])
def test_numpy_arrays_whose_arithmetic_differs_are_refused(backend, argument, kind, got):
    """A masked array's mask is kept by some NumPy steps and dropped by others (its MSE came
    out as sum over the unmasked / count of all); a matrix multiplies as matrices. Refused
    on every backend, also after a plain call of the same shapes."""
    plain = np.array([[1.0, 2.0], [3.0, 4.0]])
    odd = np.ma.masked_array(plain, [[False, True], [False, False]]) if kind == "masked" else np.matrix(plain)
    args = {"y_true": np.zeros((2, 2)), "y_pred": to_backend(backend, plain, "float64"), "sample_weight": None}
    loss = crossloss.get("mse")
    loss(args["y_true"], args["y_pred"])
    args[argument] = odd
    with pytest.raises(LossTypeError, match=f"mean_squared_error: argument '{argument}' expected a dense array or "
                                            f"tensor of numbers; got {got}"):
        loss(args["y_true"], args["y_pred"], sample_weight=args["sample_weight"])


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("argument", ["y_true", "y_pred", "sample_weight"])
@pytest.mark.parametrize("kind,got", [("sparse", "a tensor of layout torch.sparse_coo"),
                                      ("masked", "a torch.masked.MaskedTensor"), ("nested", "a nested tensor")])
@pytest.mark.filterwarnings("ignore:The PyTorch API of (MaskedTensors|nested tensors) is in prototype stage")
def test_sparse_masked_and_nested_torch_tensors_are_refused_by_name(argument, kind, got):
    """A MaskedTensor's mask was kept on some paths and dropped on others (MAE: the mean of the
    kept entries by torch's l1_loss, their sum over every entry by the formula); a nested
    tensor failed inside torch (a helper's audit)."""
    import torch
    args = {"y_true": torch.zeros(2, 2), "y_pred": torch.ones(2, 2), "sample_weight": None}
    loss = crossloss.get("mae")
    loss(args["y_true"], args["y_pred"])  # a plan of these shapes exists: such a tensor is not matched to it
    args[argument] = {"sparse": lambda: torch.eye(2).to_sparse(),
                      "masked": lambda: torch.masked.masked_tensor(torch.eye(2), torch.eye(2) > 0),
                      "nested": lambda: torch.nested.nested_tensor([torch.ones(2), torch.ones(3)])}[kind]()
    with pytest.raises(LossTypeError, match=f"argument '{argument}' expected a dense array or tensor of numbers; "
                                            f"got {got}"):
        loss(args["y_true"], args["y_pred"], sample_weight=args["sample_weight"])


@pytest.mark.skipif(np.dtype(np.longdouble).itemsize <= 8, reason="long double is float64 here")
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_long_double_array_is_refused_on_every_backend(backend):
    y_pred = to_backend(backend, np.ones(2), "float64")
    with pytest.raises(LossTypeError, match="argument 'y_true' expected a real .float, integer or bool. tensor; "
                                            "got dtype float128"):
        crossloss.get("mse")(np.zeros(2, np.longdouble), y_pred)


@pytest.mark.parametrize("name,params", [("cce", {"from_logits": True}), ("kld", {"from_logits": True}), ("cce", {}),
                                         ("cce", {"compat": "keras", "from_logits": True}), ("cce", {"compat": "torch"})])
def test_a_class_axis_of_size_zero_gives_empty_sums(backend, name, params):
    """Each sample's loss is a sum over no class: 0, as Keras gives. NumPy's log-softmax once
    raised its own "zero-size array to reduction operation maximum" there."""
    loss = crossloss.get(name, reduction="none", **params)
    out = to_numpy(loss(to_backend(backend, np.zeros((2, 0)), "float64"), to_backend(backend, np.zeros((2, 0)), "float64")))
    assert out.tolist() == [0.0, 0.0]


@pytest.mark.parametrize("name,params", [("dice", {"batch": True}), ("dice", {"compat": "keras"})])
@pytest.mark.parametrize("weight", [0.5, np.array(0.5), np.array([0.5])])
def test_a_scalar_sample_weight_scales_a_loss_that_is_not_per_sample(backend, name, params, weight):
    """A loss whose values span the batch has no sample to weigh; a scalar scales it, as
    Keras's Dice takes one. An array of one entry per sample is refused (above)."""
    y_true = to_backend(backend, (np.arange(24).reshape(2, 3, 4) % 3 == 0).astype(float), "float64")
    y_pred = to_backend(backend, np.linspace(0.05, 0.95, 24).reshape(2, 3, 4), "float64")
    loss = crossloss.get(name, **params)
    weighted = float(to_numpy(loss(y_true, y_pred, sample_weight=weight)))
    assert weighted == pytest.approx(0.5 * float(to_numpy(loss(y_true, y_pred))), rel=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_python_y_pred_takes_the_float_dtype_of_y_true(backend, dtype):
    """Python numbers have no dtype: NumPy made them float64 and torch and TensorFlow float32,
    so float64 targets were rounded to float32 on two backends and float32 ones widened on one."""
    y_true = to_backend(backend, np.array([0.1, 0.2]), dtype)
    out = crossloss.get("mse")(y_true, [0.1 + 1e-9, 0.2])
    assert dtype in str(out.dtype)  # torch.float32, <dtype: 'float32'>, float32
    expected = np.mean((np.array([0.1 + 1e-9, 0.2], dtype) - np.array([0.1, 0.2], dtype)).astype(np.float64) ** 2)
    assert float(to_numpy(out)) == pytest.approx(expected, rel=1e-6, abs=0)


def test_a_python_y_pred_beside_half_targets_is_read_in_their_compute_dtype(backend):
    """float16 and bfloat16 are computed in float32: Python numbers beside such targets were
    rounded to the half type first (2049 to 2048 and 0.3 off by 3e-4 in float16; 2.6e-3 in
    bfloat16), where the same numbers as y_true stay exact (a helper's audit)."""
    halves = ["float16"] + (["bfloat16"] if backend != "numpy" else [])
    y_pred = [0.2, 0.6, 2049.0]
    for dtype in halves:
        y_true = to_backend(backend, np.array([0.1, 0.3, 0.0]), dtype)
        targets = to_numpy(y_true).astype(np.float32).astype(np.float64)
        expected = (np.array(y_pred, np.float32).astype(np.float64) - targets) ** 2
        got = crossloss.get("mse", reduction="none")(y_true, y_pred)
        assert "float32" in str(got.dtype)  # torch.float32, <dtype: 'float32'>, float32
        np.testing.assert_allclose(to_numpy(got), expected, rtol=1e-6, atol=0, err_msg=dtype)


@pytest.mark.parametrize("y_true", [np.array([0, 1]), np.array([False, True]), [0, 1], [0.0, 1.0]],
                         ids=["int64", "bool", "int-list", "float-list"])
def test_python_floats_take_the_frameworks_default_dtype_where_y_true_is_not_float(backend, y_true):
    """torch.tensor and tf.constant make Python floats float32, NumPy float64. A review once sent
    them through np.asarray first, which made them float64 on every backend."""
    default = {"numpy": "float64", "torch": "float32", "tensorflow": "float32"}[backend]
    as_tensor = isinstance(y_true, np.ndarray)
    out = crossloss.get("mse", backend=backend)(to_backend(backend, y_true, "float32") if as_tensor else y_true,
                                                [0.5, 0.25])
    assert default in str(out.dtype)  # torch.float32, <dtype: 'float32'>, float64
    if as_tensor and backend != "numpy":  # a NumPy y_true of another backend's call
        assert default in str(crossloss.get("mse", backend=backend)(y_true, [0.5, 0.25]).dtype)


@pytest.mark.parametrize("y_pred", [[0, 1], (0, 1), [False, True], 1])
def test_python_integers_and_bools_take_a_float_y_trues_dtype(backend, y_pred):
    """A review restricted that to floats: [0, 1] against float64 targets was computed in float32."""
    y_true = np.array([0.1, 0.2]) if isinstance(y_pred, (list, tuple)) else np.array(0.1)
    out = crossloss.get("mse")(to_backend(backend, y_true, "float64"), y_pred)
    assert "float64" in str(out.dtype)
    assert float(to_numpy(out)) == np.mean((y_true - np.asarray(y_pred, np.float64)) ** 2)


def test_python_floats_take_a_float_numpy_y_true_dtype_on_any_backend(backend):
    out = crossloss.get("mse", backend=backend)(np.array([0.0, 1.0], np.float32), [0.5, 0.25])
    assert "float32" in str(out.dtype)


def _complex(backend, values):
    if backend == "torch":
        import torch
        return torch.tensor(values)
    if backend == "tensorflow":
        import tensorflow as tf
        return tf.constant(values)
    return np.array(values)


@pytest.mark.parametrize("weight,error", [
    (np.ones(3), LossValueError), (np.ones((2, 3)), LossValueError),  # not a prefix of the loss's shape
    ([1 + 1j, 1.0], LossTypeError)])
def test_a_weight_on_the_latest_plans_fast_path_is_checked_as_on_the_first_call(backend, weight, error):
    """A weight of y_pred's own type skips dispatch on inputs of the latest signature; its
    shape and dtype are still checked on every call."""
    loss = crossloss.get("mse")
    y_true, y_pred = (to_backend(backend, np.zeros((2, 4)), "float32") for _ in range(2))
    assert float(to_numpy(loss(y_true, y_pred, to_backend(backend, np.ones(2), "float32")))) == 0.0
    given = _complex(backend, weight) if isinstance(weight, list) else to_backend(backend, weight, "float32")
    with pytest.raises(error) as info:
        loss(y_true, y_pred, given)
    assert "argument 'sample_weight'" in str(info.value)


def test_weights_of_a_signature_seen_before_are_weighed_by_their_own_values(backend):
    """A plan remembers how a weight of each signature was made to fit (cast, reshape) and
    skips its checks after: every call must still weigh by the values it is given, and a
    weight of another shape or dtype is fitted (or refused) afresh."""
    rng = np.random.default_rng(5)
    y_true, y_pred = rng.standard_normal((2, 6, 3))
    t, p = (to_backend(backend, v, "float32") for v in (y_true, y_pred))
    squared = (y_pred.astype(np.float32).astype(np.float64) - y_true.astype(np.float32).astype(np.float64)) ** 2
    loss = crossloss.get("mse")
    weights = [rng.random(6), rng.random(6), rng.random((6, 1)), np.float64(rng.random()), rng.random(6),
               rng.random((6, 3))]
    for dtype in ("float32", "float64"):
        for w in weights:
            given = to_backend(backend, np.asarray(w), dtype)
            expected = np.mean(np.reshape(np.asarray(w, np.float32).astype(np.float64),
                                          np.shape(w) + (1,) * (2 - np.ndim(w))) * squared)
            out = loss(t, p, given)
            assert "float32" in str(out.dtype)
            assert float(to_numpy(out)) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(LossValueError, match="argument 'sample_weight'"):
        loss(t, p, to_backend(backend, np.ones(3), "float32"))


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="TensorFlow is not installed")
def test_a_weight_variable_of_unknown_sizes_is_compared_on_every_call():
    """A tf.Variable's declared shape, [None, None] here, is not its value's: the plan's fit
    of the first weight had been taken for a later one of another shape (a (1, 3) weight on
    (4, 3) values, which TensorFlow broadcasts), and then a graph's guard gave NaN. Eager
    calls read the variable's value, whose misfit is refused as a tensor's."""
    import tensorflow as tf
    rng = np.random.default_rng(6)
    y_true, y_pred = (tf.constant(rng.standard_normal((4, 3)), tf.float32) for _ in range(2))
    weight = tf.Variable(tf.ones((4, 1)), shape=tf.TensorShape([None, None]))
    loss = crossloss.get("mse")
    expected = np.mean((y_pred.numpy().astype(np.float64) - y_true.numpy()) ** 2)
    assert float(loss(y_true, y_pred, weight)) == pytest.approx(expected, rel=1e-6)
    weight.assign([[1.0, 0.0, 0.0]])
    with pytest.raises(LossValueError, match=r"argument 'sample_weight' .*got shape \(1, 3\)"):
        loss(y_true, y_pred, weight)
    weight.assign(tf.fill((4, 1), 2.0))
    assert float(loss(y_true, y_pred, weight)) == pytest.approx(2 * expected, rel=1e-6)


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="TensorFlow is not installed")
def test_eager_variables_of_unknown_sizes_are_checked_as_their_values():
    """An eager tf.Variable declared with unknown sizes was planned as a graph's input: its
    values went unread (a BCE target of 2 gave a number), and a valid sparse CE or Dice call
    with the class axis unknown failed comparing a label with None (a helper's audit)."""
    import tensorflow as tf
    def variable(values):
        return tf.Variable(np.asarray(values, np.float32), shape=tf.TensorShape([None] * np.ndim(values)))
    labels, logits = tf.constant([0, 2]), [[0.5, 1.0, -1.0], [2.0, 0.0, 0.5]]
    for name, params in (("scce", {"from_logits": True}), ("dice", {"activation": "softmax"})):
        loss = crossloss.get(name, **params)
        np.testing.assert_array_equal(loss(labels, variable(logits)).numpy(), loss(labels, tf.constant(logits, tf.float32)).numpy())
        p = variable(logits)
        with tf.GradientTape() as tape:  # read through the variable: the tape sees it
            value = loss(labels, p)
        assert tape.gradient(value, p) is not None
    with pytest.raises(LossValueError, match="binary_crossentropy: argument 'y_true' expected probabilities in"):
        crossloss.get("bce")(variable([0.0, 2.0]), tf.constant([0.3, 0.6]))
    with pytest.raises(LossValueError, match=r"sparse_categorical_crossentropy: argument 'y_true' expected integer labels"):
        crossloss.get("scce", from_logits=True)(tf.Variable([0, 5], shape=tf.TensorShape([None])), variable(logits))


@pytest.mark.parametrize("name,params", [("mse", {}), ("scce", {"from_logits": True}), ("bce", {})])
@pytest.mark.parametrize("shape", [(1,), (1, 1)])
def test_a_weight_of_one_element_is_a_scalar_whatever_the_batch(backend, name, params, shape):
    """docs/semantics.md: a weight of one element, (1,) or (1, 1), weighs every entry as the
    number does, whatever the batch size (here 4, and 1)."""
    rng = np.random.default_rng(9)
    for batch in (4, 1):
        probabilities = rng.dirichlet(np.ones(3), batch)
        y_true = rng.integers(0, 3, batch) if name == "scce" else probabilities[::-1].copy()
        y_pred = np.log(probabilities) if params else probabilities
        t = to_backend(backend, y_true, "int64" if name == "scce" else "float64")
        p = to_backend(backend, y_pred, "float64")
        loss = crossloss.get(name, **params)
        expected = 0.5 * float(to_numpy(loss(t, p)))
        assert float(to_numpy(loss(t, p, 0.5))) == pytest.approx(expected, rel=1e-12)
        assert float(to_numpy(loss(t, p, to_backend(backend, np.full(shape, 0.5), "float64")))) == \
            pytest.approx(expected, rel=1e-12)


def test_a_zero_sample_weight_on_an_infinite_entry_is_nan_and_a_negative_one_is_taken(backend):
    """docs/semantics.md: sample_weight multiplies the numerator only, so a weight of 0 on an
    infinite entry (a logit of -inf for label 1) gives 0 * inf = NaN, as (loss * w).sum() does,
    where a class weight of 0 leaves the class out (0); a weight's values are not checked."""
    y_true = to_backend(backend, np.array([[1.0], [0.0]]), "float64")
    logits = to_backend(backend, np.array([[-np.inf], [0.5]]), "float64")
    loss = crossloss.get("bce", from_logits=True, reduction="none")
    assert to_numpy(loss(y_true, logits)).ravel()[0] == np.inf
    with np.errstate(invalid="ignore"):  # (NumPy warns of its 0 * inf, as for a user's own product)
        weighted = crossloss.get("bce", from_logits=True)(y_true, logits, to_backend(backend, np.array([0.0, 1.0]),
                                                                                      "float64"))
    assert np.isnan(float(to_numpy(weighted)))
    labels = to_backend(backend, np.array([0, 1]), "int64")
    log_q = to_backend(backend, np.array([[-np.inf, 0.0], [0.0, 0.0]]), "float64")
    class_weighted = crossloss.get("scce", from_logits=True, class_weight=[0.0, 1.0])(labels, log_q)
    assert float(to_numpy(class_weighted)) == pytest.approx(np.log(2.0), rel=1e-12)  # only label 1 counts
    negative = crossloss.get("mse")(to_backend(backend, np.zeros(2), "float64"), to_backend(backend, np.ones(2), "float64"),
                                    to_backend(backend, np.array([-1.0, 3.0]), "float64"))
    assert float(to_numpy(negative)) == pytest.approx(1.0, rel=1e-12)  # (-1 + 3) / 2


@pytest.mark.parametrize("where,label", [((1, 0), 4), ((0, 0), -1), ((0, 0), -2), ((1, 2), 4)])
@pytest.mark.parametrize("name,params", [("dice", {}), ("dice", {"ignore_index": -1}), ("scce", {})])
def test_an_unread_label_out_of_range_gives_nan_or_the_contracts_error(backend, name, params, where, label):
    """Under value_checks="never" nothing reads the labels: a label out of range makes the loss
    NaN (docs/semantics.md, 4) or stops at a framework's check, said as crossloss's error.
    NumPy's Dice raised NumPy's own ValueError from np.bincount (a negative segment id) or from
    a reshape (an id past the last segment lengthened its counts)."""
    labels = np.zeros((2, 3), np.int64)
    labels[where] = label
    y_pred = to_backend(backend, np.full((2, 3, 4), 0.25), "float32")
    loss = crossloss.get(name, **params)
    with crossloss.options(value_checks="never"):
        try:
            outcome = float(to_numpy(loss(to_backend(backend, labels, "int64"), y_pred)))
        except LossValueError as error:
            outcome = error
    if label == params.get("ignore_index"):
        assert isinstance(outcome, float) and np.isfinite(outcome)
    else:
        assert isinstance(outcome, LossValueError) or np.isnan(outcome), outcome


def test_a_list_of_zero_d_arrays_is_y_pred_as_it_is_y_true(backend):
    """y_pred and y_true lists both go through NumPy: 0-d arrays in a list were a TypeError
    from inside torch and TensorFlow as y_pred (len() of unsized object) and fine as y_true."""
    other = to_backend(backend, np.array([1.0, 2.0]), "float32")
    listed = [np.array(1.5), np.array(2.5)]
    assert float(to_numpy(crossloss.get("mse")(other, listed))) == pytest.approx(0.25)
    assert float(to_numpy(crossloss.get("mse")(listed, other))) == pytest.approx(0.25)


@pytest.mark.parametrize("argument", ["y_true", "y_pred", "sample_weight"])
def test_a_list_holding_tensors_numpy_cannot_read_is_refused_by_name(argument):
    """A list of tensors that require grad (or live on meta) cannot become a NumPy array:
    torch's own RuntimeError / TypeError came out naming neither the loss nor the argument."""
    torch = pytest.importorskip("torch")
    bad = [torch.tensor(1.0, requires_grad=True), torch.tensor(2.0)]
    args = {"y_true": np.ones(2), "y_pred": np.ones(2), "sample_weight": None, argument: bad}
    with pytest.raises(LossValueError) as info:
        crossloss.get("mse")(args["y_true"], args["y_pred"], args["sample_weight"])
    assert f"mean_squared_error: argument '{argument}'" in str(info.value) and "requires grad" in str(info.value)


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_torch_reads_large_probabilities_as_bit_patterns_to_the_same_range(dtype):
    """From 2^14 values torch reads probabilities' range from their bit patterns as integers
    (faster); a sign bit reads the floats again. Both inputs of a dense Dice, in the one-hot's
    channels-last memory too: the range equals NumPy's min and max (NaN: both NaN), a value
    outside [0, 1] is refused, and -0.0, subnormals, 0 and 1 give the reference's loss."""
    import torch
    from crossloss.backends.torch import OPS
    rng = np.random.default_rng(11)
    labels = rng.integers(0, 4, (2, 64, 64))
    one_hot = np.moveaxis(np.eye(4)[labels], -1, 1)
    probs = rng.dirichlet(np.ones(4), (2, 64, 64)).transpose(0, 3, 1, 2)
    tiny = float(torch.finfo(getattr(torch, dtype)).smallest_normal) / 4  # a subnormal
    valid = {"-0.0": -0.0, "0": 0.0, "a subnormal": tiny, "1": 1.0}
    invalid = {"below 0": -2.0 ** -20, "above 1": 1.0 + 2.0 ** -7, "NaN": math.nan, "-NaN": -math.nan,
               "inf": math.inf}
    loss = crossloss.get("dice", axis=1)
    for where in ("y_true", "y_pred"):
        for name, value in {**valid, **invalid}.items():
            y_true, y_pred = one_hot.copy(), probs.copy()
            (y_true if where == "y_true" else y_pred)[1, 2, 30, 40] = value
            as_torch = [torch.as_tensor(a).to(getattr(torch, dtype))
                        for a in (np.ascontiguousarray(np.moveaxis(y_true, 1, -1)), y_pred)]
            as_torch[0] = as_torch[0].movedim(-1, 1)  # channels-last in memory, as F.one_hot's permute gives
            assert not as_torch[0].is_contiguous()
            x = as_torch[where == "y_pred"]
            assert OPS.range_reader(x, nonnegative=True) is not OPS.range_reader(x)  # the patterns' path
            read = OPS.range_reader(x, nonnegative=True)(x)
            exact = x.double().numpy()
            expected = (math.nan, math.nan) if np.isnan(exact).any() else (exact.min(), exact.max())
            assert np.array_equal(read, expected, equal_nan=True), (where, name, read, expected)
            if name in invalid:
                with pytest.raises(LossValueError, match=f"argument '{where}'"):
                    loss(*as_torch)
                continue
            out = float(loss(*as_torch))
            reference = reference_for("dice")(*(a.double().numpy() for a in as_torch), axis=1)
            assert out == pytest.approx(float(reference), rel=1e-5 if dtype == "float32" else 1e-2), (where, name)


BOUND_READERS = [(backend, path) for backend, paths in (("numpy", ["host"]), ("tensorflow", ["host", "device"]))
                 if backend in BACKENDS for path in paths]


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="TensorFlow is not installed")
@pytest.mark.parametrize("dtype", ["bool", "int64", "uint8", "float16", "bfloat16", "float32"])
def test_tensorflow_host_reads_view_the_buffer_and_copy_only_what_exports_none(dtype):
    """Below 2^20 values (2^22 for one max) a host tensor is read through NumPy: a view of its buffer (two reads
    share memory), or for bfloat16 (no buffer format) and a tf.Variable a copy. The range
    is the values' either way, and a loss refuses a bad value of each."""
    import tensorflow as tf
    from crossloss.backends import tensorflow as tf_backend
    values = np.array([[3, 0, 1], [2, 1, 1]]) if dtype != "bool" else np.array([[True, False, True]])
    x = tf.constant(values, dtype=getattr(tf, dtype))
    assert np.shares_memory(tf_backend._host_values(x), tf_backend._host_values(x)) == (dtype != "bfloat16")
    for tensor in (x, tf.Variable(x)):
        assert tf_backend._host_range(tensor) == (values.min(), values.max()), (dtype, tensor)
    if dtype in ("int64", "uint8", "bfloat16"):  # as labels of 3 classes: the 3 is out of range
        with pytest.raises(LossValueError, match="y_true.*got .*3"):
            crossloss.get("sparse_categorical_crossentropy", backend="tensorflow")(
                tf.Variable(x), tf.constant(np.full((2, 3, 3), 1 / 3), tf.float32))


@pytest.mark.parametrize("backend,path", BOUND_READERS)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int8", "uint8"])
def test_values_whose_min_no_formula_uses_are_read_by_their_largest_bit_pattern(backend, path, dtype):
    """NumPy and TensorFlow read values >= 0 whose min no formula uses (Dice's inputs, BCE's
    and categorical CE's targets, labels without ignore_index) by one max of their bit
    patterns as unsigned integers: where no value has a sign bit the max is exact (NaN
    included) and the min is given as 0, a bound; a sign bit (-0.0 too) reads the exact range."""
    ops = crossloss.backends.load(backend).OPS
    rng = np.random.default_rng(13)
    floats = dtype.startswith("float")
    base = rng.uniform(0.05, 0.9, (2, 3, 16, 16)) if floats else rng.integers(3, 9, (2, 3, 16, 16))
    cases = {"0": 0, "the largest": 100} if not floats else {
        "0": 0.0, "a subnormal": float(np.finfo(dtype).smallest_normal) / 4, "1": 1.0, "above 1": 1.0 + 2.0 ** -20,
        "NaN": math.nan, "inf": math.inf, "-0.0": -0.0, "below 0": -2.0 ** -20, "-NaN": -math.nan}
    if dtype.startswith("int"):
        cases["below 0"] = -1
    for name, value in cases.items():
        values = base.astype(dtype)
        values[1, 2, 5, 7] = value
        x = to_backend(backend, values, dtype)
        exact = ops.range_reader(x)
        if backend == "tensorflow":
            from crossloss.backends import tensorflow as tf_backend
            assert ops.range_reader(x, nonnegative=True, minimum=False) is tf_backend._host_bound
            read = (tf_backend._host_bound if path == "host" else tf_backend._device_bound)(x)
            exact = exact if path == "host" else tf_backend._device_range
        else:
            read = ops.range_reader(x, nonnegative=True, minimum=False)(x)
        signed = np.signbit(values).any()
        expected = exact(x) if signed else (0, np.nan if np.isnan(values).any() else values.max())
        assert np.array_equal(read, expected, equal_nan=True), (name, read, expected)
        assert type(read[1]) is (float if floats else int), (name, read)
    assert ops.range_reader(x, nonnegative=True) is not ops.range_reader(x, nonnegative=True, minimum=False)
    if backend == "tensorflow":  # between 2^20 and 2^22 values only the one max stays on the host
        import tensorflow as tf
        middle = tf.zeros((1 << 21,), getattr(tf, dtype))
        assert ops.range_reader(middle, nonnegative=True, minimum=False) is tf_backend._host_bound
        assert ops.range_reader(middle) is tf_backend._device_range


@pytest.mark.parametrize("backend", [b for b, path in BOUND_READERS if path == "host"])
@pytest.mark.parametrize("name,where,bad", [("dice", "y_pred", 1.5), ("dice", "y_true", 1.5), ("dice", "y_true", 7),
                                            ("sparse_categorical_crossentropy", "y_true", 7)])
def test_a_failed_check_by_the_largest_pattern_names_the_exact_range(backend, name, where, bad):
    """The max alone gives 0 for the min: where the check fails, the range is read again
    exactly, so the message shows the values' own min."""
    rng = np.random.default_rng(15)
    probs = rng.uniform(0.05, 0.9, (2, 3, 8, 8)).astype("float32")
    y_true = probs.copy() if not isinstance(bad, int) else rng.integers(1, 3, (2, 8, 8))
    y_pred = probs.copy()
    (y_true if where == "y_true" else y_pred)[(0, 1, 2, 3) if y_true.ndim == 4 or where == "y_pred" else (0, 2, 3)] = bad
    found = y_true if where == "y_true" else y_pred
    low = f"{found.min():.6g}" if found.dtype.kind == "f" else f"{found.min()}"
    loss = crossloss.get(name, backend=backend, axis=1)
    with pytest.raises(LossValueError, match=f"argument '{where}'.* got values from {low} to {bad}"):
        loss(to_backend(backend, y_true, str(y_true.dtype)), to_backend(backend, y_pred, "float32"))


@pytest.mark.parametrize("backend", [b for b, path in BOUND_READERS if path == "host"])
@pytest.mark.parametrize("name,params,labels,minimum_used", [
    ("dice", {"axis": 1}, False, ()), ("dice", {"axis": 1}, True, ()),
    ("dice", {"axis": 1, "ignore_index": 2}, True, ("y_true",)),
    ("sparse_categorical_crossentropy", {"axis": 1}, True, ()),
    ("binary_crossentropy", {}, False, ("y_pred",)), ("categorical_crossentropy", {"axis": 1}, False, ("y_pred",)),
    ("kl_divergence", {"axis": 1}, False, ("y_true", "y_pred"))])
def test_the_min_is_read_exactly_where_it_is_used(backend, name, params, labels, minimum_used, monkeypatch):
    """KL's targets' min decides the floor of log p, and BCE's and categorical CE's
    probabilities' that of log q; labels with an ignore_index may hold a negative one: those
    are read exactly, the rest by their maximum alone (sparse CE's y_pred: the values it reads)."""
    ops = crossloss.backends.load(backend).OPS
    reads = []
    range_reader = type(ops).range_reader

    def recorded(self, like, *args, **kwargs):
        read = range_reader(self, like, *args, **kwargs)
        minimum = kwargs.get("minimum", True)
        return read and (lambda x: reads.append((x is y_pred and "y_pred" or x is y_true and "y_true", minimum))
                         or read(x))
    monkeypatch.setattr(type(ops), "range_reader", recorded)
    monkeypatch.setattr(crossloss.core, "_SHARED", {})
    rng = np.random.default_rng(14)
    probs = rng.dirichlet(np.ones(3), (4, 5)).transpose(0, 2, 1)
    y_true = to_backend(backend, rng.integers(0, 3, (4, 5)) if labels else rng.dirichlet(np.ones(3), (4, 5)).transpose(0, 2, 1),
                        "int64" if labels else "float32")
    y_pred = to_backend(backend, probs, "float32")
    crossloss.get(name, backend=backend, **params)(y_true, y_pred)
    reads = [read for read in reads if read[0]]  # (sparse CE reads the probabilities it gathers too)
    assert dict(reads) == {k: k in minimum_used for k, _ in reads} and len(reads) == len(dict(reads)), reads
    assert "y_true" in dict(reads), reads


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("name,params", [("binary_crossentropy", {}), ("kl_divergence", {}), ("dice", {"axis": 1})])
def test_torch_large_probability_reads_of_other_dtypes_and_negative_views(name, params):
    """The reader is chosen from the inputs as given: float16 targets against float64
    probabilities are read after their cast to float64, which has no pattern path, and a view
    with torch's negative bit (``conj().imag``) refuses ``.view(int)``; both read the floats."""
    import torch
    rng = np.random.default_rng(12)
    y_pred = rng.dirichlet(np.ones(4), (2, 64, 32)).transpose(0, 3, 1, 2) if name == "dice" else \
        rng.dirichlet(np.ones(4), 4096)
    y_true = rng.dirichlet(np.ones(4), y_pred.shape[0] if name != "dice" else (2, 64, 32))
    y_true = y_true.transpose(0, 3, 1, 2) if name == "dice" else y_true
    assert y_pred.size >= 1 << 14
    loss = crossloss.get(name, **params)
    half = torch.tensor(y_true, dtype=torch.float16)
    expected = float(reference_for(name)(half.double().numpy(), y_pred, **params))
    got = float(loss(half, torch.tensor(y_pred)))
    assert got == pytest.approx(expected, rel=1e-9), "float16 targets, float64 predictions"
    negative = torch.complex(torch.zeros(y_pred.shape, dtype=torch.float32),
                             -torch.tensor(y_pred, dtype=torch.float32)).conj().imag
    assert negative.is_neg()
    got = float(loss(torch.tensor(y_true, dtype=torch.float32), negative))
    expected = float(reference_for(name)(y_true.astype(np.float32), y_pred.astype(np.float32), **params))
    assert got == pytest.approx(expected, rel=1e-5), "a negative-bit view"
    bad = negative.clone()
    bad.view(-1)[7] = 1.5
    bad = torch.complex(torch.zeros_like(bad), -bad).conj().imag
    with pytest.raises(LossValueError, match="argument 'y_pred'"):
        loss(torch.tensor(y_true, dtype=torch.float32), bad)


@pytest.mark.parametrize("pixels", [64, 128, 4096])
def test_dice_with_labels_keeps_the_compute_dtype_where_its_sums_add_in_float64(backend, pixels):
    """From 128 pixels a sample the label sums add in float64 and are cast back: without the cast
    torch's result was float64 for float32 and float16 inputs, with every value right, so no
    value check saw it (a helper's mutation audit)."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, (2, pixels))
    probs = rng.dirichlet(np.ones(3), (2, pixels)).transpose(0, 2, 1)
    for dtype in ("float32", "float16"):
        out = crossloss.get("dice", axis=1)(to_backend(backend, labels, "int64"), to_backend(backend, probs, dtype))
        assert "float32" in str(out.dtype), (dtype, out.dtype)


def test_dice_with_labels_that_leave_the_last_class_out_counts_it_on_every_path(backend):
    """From 2^12 label pixels torch counts them with bincount, which must be told the class
    count: without minlength a class no label takes came out missing, and the reshape to
    (batch, classes) failed (a helper's mutation audit)."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, (1, 64, 64))  # class 3 of 4 absent
    probs = rng.dirichlet(np.ones(4), (1, 64, 64)).transpose(0, 3, 1, 2)
    dice = crossloss.get("dice", axis=1, reduction="none")
    got = to_numpy(dice(to_backend(backend, labels, "int64"), to_backend(backend, probs, "float64")))
    t = np.moveaxis(np.eye(4)[labels], -1, 1)
    intersection, total = (probs * t).sum((2, 3)), probs.sum((2, 3)) + t.sum((2, 3))
    np.testing.assert_allclose(got, 1 - (2 * intersection + 1e-5) / (total + 1e-5), rtol=1e-12)


def test_a_nan_logit_at_a_zero_weight_label_keeps_the_loss_nan(backend):
    """mul_no_nan replaces only an infinite value at a zero weight: zeroing a NaN too, sparse CE
    with class_weight 0 at a row's label and a NaN logit there gave 0.5514 for the mean, where
    the input has a NaN (torch's cross_entropy: NaN), and no test or case saw it (a helper's
    mutation audit)."""
    logits = np.array([[np.nan, 0.3, -0.2], [0.1, 0.5, 0.2], [0.3, -0.1, 0.4]])
    loss = crossloss.get("scce", from_logits=True, class_weight=[0.0, 1.0, 1.0])
    got = to_numpy(loss(to_backend(backend, np.array([0, 1, 2]), "int64"), to_backend(backend, logits, "float64")))
    assert np.isnan(got)
