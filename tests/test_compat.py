"""compat="torch" / compat="keras" against the real torch.nn.functional / keras.losses calls,
random and edge cases, float64 (1e-6) and float32 (1e-5), every reduction: the harness's check."""
import warnings

import numpy as np
import pytest

import crossloss
from crossloss import LossTypeError, LossValueError
from crossloss.compat import profiles
from crossloss.conformance import harness, own
from crossloss.conformance.frameworks import to_backend, to_numpy

from conftest import BACKENDS

PAIRS = [(profile, loss) for profile, names in profiles().items() if own.FRAMEWORK[profile] in BACKENDS for loss in names]


@pytest.mark.parametrize("profile,loss", PAIRS)
def test_profile_equals_the_frameworks_own_loss(profile, loss):
    """On every backend: a migration runs the framework's numbers on another one."""
    results = harness.compat_checks([loss], BACKENDS, only=profile)
    failed = [r for r in results if not r.passed]
    assert {r.backend for r in results} == set(BACKENDS) and not failed, \
        "\n".join(f"{r.case} [{r.backend} {r.dtype} {r.reduction}]: {r.detail}" for r in failed[:20])


def test_profiles_cover_every_counterpart():
    assert profiles() == {
        "torch": ["binary_crossentropy", "categorical_crossentropy", "huber", "kl_divergence", "mean_absolute_error",
                  "mean_squared_error", "smooth_l1", "sparse_categorical_crossentropy"],
        "keras": ["binary_crossentropy", "categorical_crossentropy", "dice", "huber", "kl_divergence",
                  "mean_absolute_error", "mean_squared_error", "sparse_categorical_crossentropy"]}


@pytest.mark.parametrize("name,params,argument", [
    ("smooth_l1", {"compat": "keras"}, "compat"),
    ("dice", {"compat": "torch"}, "compat"),
    ("mse", {"compat": "jax"}, "compat"),
    ("bce", {"compat": "torch", "label_smoothing": 0.1}, "label_smoothing"),
    ("bce", {"compat": "keras", "pos_weight": 2.0}, "pos_weight"),
    ("scce", {"compat": "keras", "axis": 1}, "axis"),
    ("kld", {"compat": "keras", "reduction": "batchmean"}, "reduction"),
    ("kld", {"reduction": "batchmean"}, "reduction"),
])
def test_profiles_refuse_what_the_framework_lacks(name, params, argument):
    with pytest.raises((LossValueError, LossTypeError)) as info:  # an unknown parameter: LossTypeError
        crossloss.get(name, **params)
    assert f"'{argument}'" in str(info.value)


def test_keras_axes_that_are_no_axis_are_refused_by_name():
    """axes=1.5 once said "expected 'float' object is not iterable"."""
    with pytest.raises(LossTypeError, match=r"dice\[keras\]: argument 'axes' expected None, an axis or a tuple of axes; "
                                            r"got 1.5"):
        crossloss.get("dice", compat="keras", axes=1.5)


@pytest.mark.parametrize("axes,error", [(("1", 2), LossTypeError), ((1, True), LossTypeError), ((), LossValueError)])
def test_keras_axes_of_the_wrong_type_or_none_are_refused_by_kind(axes, error):
    with pytest.raises(error, match=r"dice\[keras\]: argument 'axes' expected None, an axis or a tuple of axes"):
        crossloss.get("dice", compat="keras", axes=axes)


@pytest.mark.parametrize("axes", [np.int64(1), (np.int64(1),), np.array([1])])
def test_keras_axes_may_be_numpy_integers_as_every_other_axis(axes):
    y_true, y_pred = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]]), np.array([[0.2, 0.7, 0.6], [0.9, 0.1, 0.3]])
    loss = crossloss.get("dice", compat="keras", axes=axes)
    assert loss.params["axes"] == (1,) and type(loss.params["axes"][0]) is int  # a config stays JSON-able
    np.testing.assert_array_equal(loss(y_true, y_pred), crossloss.get("dice", compat="keras", axes=1)(y_true, y_pred))


@pytest.mark.parametrize("name,argument,value,expected", [
    ("bce", "axis", 3, "an axis"), ("bce", "axis", -3, "an axis"), ("dice", "axes", 5, "an axis"),
    ("dice", "axes", (0, 0), "distinct axes"), ("dice", "axes", (1, -1), "distinct axes")])
def test_keras_axes_outside_y_pred_are_refused_by_name(backend, name, argument, value, expected):
    """Checked against y_pred's rank at the call: they had reached the framework's reduction,
    whose own error (NumPy's AxisError, torch's RuntimeError, TensorFlow's
    InvalidArgumentError) named neither the loss nor the argument."""
    loss = crossloss.get(name, compat="keras", **{argument: value})
    inputs = (to_backend(backend, np.array(x), "float64") for x in ([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]],
                                                                      [[0.2, 0.7, 0.6], [0.9, 0.1, 0.3]]))
    with pytest.raises(LossValueError, match=rf"\[keras\]: argument '{argument}' expected {expected} of y_pred, "
                                             r"which has shape \(2, 3\)"):
        loss(*inputs)


def test_torch_pos_weight_needs_logits():
    with pytest.raises(LossValueError, match="pos_weight"):
        crossloss.get("bce", compat="torch", pos_weight=2.0)(np.ones(3), np.full(3, 0.5))


def test_compat_config_round_trips():
    loss = crossloss.get("kld", compat="torch", reduction="batchmean", log_target=True)
    config = loss.get_config()
    assert config["compat"] == "torch" and config["name"] == "kl_divergence"
    assert crossloss.get(**config).get_config() == config


def test_profiles_differ_from_the_default_where_the_frameworks_do():
    """The quirks are real: Keras's clip and torch's element-count KL mean change the numbers."""
    y, p = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    assert float(crossloss.get("bce")(y, p)) == pytest.approx(100.0)              # floored log
    assert float(crossloss.get("bce", compat="keras")(y, p)) == pytest.approx(-np.log(1e-7), rel=1e-6)
    q = np.array([[0.25, 0.75]])
    default = float(crossloss.get("kld")(np.array([[0.5, 0.5]]), q))
    torch_mean = float(crossloss.get("kld", compat="torch")(np.array([[0.5, 0.5]]), np.log(q)))
    assert torch_mean == pytest.approx(default / 2)  # torch's 'mean' divides by C * B


def test_readme_table_is_the_generated_one():
    import pathlib
    from crossloss.conformance.compat_table import table
    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    shown = readme.split("<!-- compat-table -->\n")[1].split("\n<!-- /compat-table -->")[0]
    assert shown == table()


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none", "mean"])
def test_torch_kl_with_log_targets_takes_log_probabilities(reduction):
    """log_target=True: y_true holds log-probabilities (<= 0), which the probability check
    must not refuse; the number is torch's kl_div's. Without it, targets stay checked."""
    import torch
    rng = np.random.default_rng(3)
    log_p = torch.log_softmax(torch.as_tensor(rng.normal(size=(4, 5))), 1)
    log_q = torch.log_softmax(torch.as_tensor(rng.normal(size=(4, 5))), 1)
    ours = crossloss.get("kld", compat="torch", log_target=True, reduction=reduction)(log_p, log_q)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that its 'mean' is not batchmean
        theirs = torch.nn.functional.kl_div(log_q, log_p, reduction=reduction, log_target=True)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    with pytest.raises(LossValueError, match="'y_true' expected probabilities"):
        crossloss.get("kld", compat="torch", reduction=reduction)(log_p, log_q)


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("shape", [(), (1,), (3,), (0, 2)])
def test_torch_kl_batchmean_takes_a_scalar_as_a_batch_of_one(backend, shape, log_target):
    """torch's kl_div divides "batchmean" by input.size(0), and by 1 for a 0-d input: the sum.
    The profile's count was 0 there, and the loss NaN. An empty batch stays NaN, as torch's."""
    import torch
    rng = np.random.default_rng(4)
    p, log_q = rng.uniform(0.1, 0.9, shape), np.log(rng.uniform(0.1, 0.9, shape))
    target = np.log(p) if log_target else p
    loss = crossloss.get("kld", compat="torch", reduction="batchmean", log_target=log_target)
    ours = float(to_numpy(loss(to_backend(backend, target, "float64"), to_backend(backend, log_q, "float64"))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch.nn.functional.kl_div(torch.as_tensor(log_q), torch.as_tensor(target), reduction="batchmean",
                                            log_target=log_target).item()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    assert np.isnan(ours) == (shape == (0, 2))


@pytest.mark.parametrize("log_target", [False, True])
def test_torch_kl_refuses_probabilities_given_for_log_probabilities(log_target):
    """kl_div's classic mistake: probabilities where it takes log-probabilities. torch returns
    a number (a negative KL here); a log-probability above 0 is refused, -inf and 0 are not."""
    p, q = np.array([[0.2, 0.8], [0.5, 0.5]]), np.array([[0.6, 0.4], [0.3, 0.7]])
    loss = crossloss.get("kld", compat="torch", log_target=log_target)
    target = np.log(p) if log_target else p
    with pytest.raises(LossValueError, match="'y_pred' expected log-probabilities"):
        loss(target, q)
    if log_target:
        with pytest.raises(LossValueError, match="'y_true' expected log-probabilities"):
            loss(p, np.log(q))
    bounds = np.array([[0.0, -700.0], [np.log(0.5), np.log(0.5)]])  # log-probabilities of 1 and ~0
    assert np.isfinite(float(loss(target, bounds)))


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="tensorflow is not installed")
@pytest.mark.parametrize("true_shape,pred_shape", [((4, 3), (4, 3, 1)), ((4, 3, 1), (4, 3)), ((4,), (4, 1)),
                                                   ((4, 1), (4,)), ((4, 1, 1), (4, 1)), ((4, 1), (4, 1, 1))])
@pytest.mark.parametrize("name,keras_class", [("mse", "MeanSquaredError"), ("huber", "Huber"),
                                              ("bce", "BinaryCrossentropy"), ("kld", "KLDivergence")])
def test_keras_profile_aligns_ranks_as_keras_does(name, keras_class, true_shape, pred_shape):
    """Keras squeezes a trailing axis of 1, or expands a 1-D input beside a (B, 1) one, and
    then averages the last axis per sample: "sum" and "none" depend on which it does."""
    import keras
    import tensorflow as tf
    rng = np.random.default_rng(1)
    y_true = tf.constant(rng.uniform(size=true_shape), tf.float32)
    y_pred = tf.constant(rng.uniform(0.05, 0.95, size=pred_shape), tf.float32)
    for reduction, ours in (("sum_over_batch_size", "mean"), ("sum", "sum"), (None, "none")):
        expected = getattr(keras.losses, keras_class)(reduction=reduction)(y_true, y_pred).numpy()
        got = crossloss.get(name, compat="keras", reduction=ours)(y_true, y_pred).numpy()
        assert got.shape == expected.shape, (reduction, got.shape, expected.shape)
        np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("class_weight", [[0.0, 0.0, 1.0], [0.0, 2.0, 1.0], [1.0, 2.0, 1.0]])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_torch_profile_mean_over_zero_weight_is_nan_as_torch(class_weight, label_smoothing):
    """Labels whose class weights are all 0: torch's weighted mean divides by 0 and is NaN,
    even where label smoothing leaves a nonzero total (which a plain division makes inf)."""
    import torch
    x = torch.as_tensor(np.random.default_rng(2).normal(size=(4, 3)))
    labels = torch.tensor([0, 0, 0, 0])
    expected = torch.nn.functional.cross_entropy(x, labels, weight=torch.tensor(class_weight, dtype=torch.float64),
                                                 label_smoothing=label_smoothing)
    for y_true, y_pred in ((labels, x), (labels.numpy(), x.numpy())):
        got = crossloss.get("scce", compat="torch", class_weight=class_weight, label_smoothing=label_smoothing)(y_true, y_pred)
        np.testing.assert_allclose(np.asarray(got), expected.numpy(), rtol=1e-12)  # NaN equals NaN here


def _confident_logits():
    """Hard targets at logits of 8 to 18 on their side: losses of 1.5e-8 to 3.4e-4, where the
    two frameworks' kernels round differently."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, (64, 16)).astype(np.float32)
    return y, (np.where(y > 0, 1, -1) * rng.uniform(8, 18, y.shape)).astype(np.float32)


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("pos_weight", [None, 2.5])
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_torch_profile_gives_torchs_bce_with_logits_on_every_backend(backend, reduction, pos_weight):
    """torch's form, (1 - y) x - (1 + (w - 1) y) log_sigmoid(x), loses a hard target's small term
    (0 for 1.1e-7 at y = 0, x = -16 in float32): the profile on NumPy and TensorFlow gave the
    exact value instead, 6.2e-4 off torch's mean here. The harness's atol (1e-6) hides terms
    this small, so this compares relatively only."""
    import torch
    y, x = _confident_logits()
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.from_numpy(x), torch.from_numpy(y), reduction=reduction,
        pos_weight=None if pos_weight is None else torch.tensor(pos_weight)).numpy()
    loss = crossloss.get("bce", compat="torch", from_logits=True, pos_weight=pos_weight, reduction=reduction)
    got = to_numpy(loss(to_backend(backend, y, "float32"), to_backend(backend, x, "float32")))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=0)


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="tensorflow is not installed")
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_keras_profile_gives_kerass_bce_with_logits_on_every_backend(backend, reduction):
    """TensorFlow's sigmoid_cross_entropy_with_logits keeps a hard target's small term; on
    torch tensors the profile ran torch's fused kernel, which loses it (6.1e-3 off Keras's
    per-sample means, 6.2e-4 off its mean here)."""
    y, x = _confident_logits()
    keras_loss = own.keras_loss("binary_crossentropy", {"from_logits": True}, reduction, "float32")
    expected = to_numpy(keras_loss(*(to_backend("tensorflow", a, "float32") for a in (y, x))))
    loss = crossloss.get("bce", compat="keras", from_logits=True, reduction=reduction)
    got = to_numpy(loss(to_backend(backend, y, "float32"), to_backend(backend, x, "float32")))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=0)


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("reduction", ["none", "sum", "batchmean"])
def test_torch_profile_kl_is_torchs_bit_for_bit_where_q_is_near_p(reduction):
    """torch's kl_div is xlogy(p, p) - p log q: where q is near p its terms cancel, and
    p (log p - log q), the profile's form before, came out 1.2e-3 off torch's sum in float32
    on torch tensors (4.4% of the elementwise values unequal)."""
    import torch
    rng = np.random.default_rng(3)
    p = rng.uniform(size=(512, 8)).astype(np.float32)
    p /= p.sum(-1, keepdims=True)
    log_q = np.log(p * rng.uniform(0.999, 1.001, size=p.shape).astype(np.float32))
    expected = torch.nn.functional.kl_div(torch.from_numpy(log_q), torch.from_numpy(p), reduction=reduction)
    got = crossloss.get("kl_div", compat="torch", reduction=reduction)(torch.from_numpy(p), torch.from_numpy(log_q))
    assert torch.equal(got, expected)
