"""The harness must be able to fail: a loss that is slightly wrong, NaN or mis-shaped is caught."""
import numpy as np
import pytest

import crossloss
import crossloss.conformance
import crossloss.testing
from crossloss.conformance import cases, harness
from crossloss.errors import LossTypeError, LossValueError, UnknownLossError
from crossloss.spec import LossSpec, Param, Terms

from conftest import BACKENDS


def squared_error(y_true, y_pred):
    return (y_pred - y_true) ** 2


def test_compare_flags_each_kind_of_disagreement():
    ref = np.array([1.0, np.inf, 0.5])
    assert harness.compare(ref.copy(), ref, "float32")[0]
    assert not harness.compare(np.array([1.0, np.inf, np.nan]), ref, "float32")[0]       # NaN where finite
    assert not harness.compare(np.array([1.0, -np.inf, 0.5]), ref, "float32")[0]         # wrong infinity
    assert not harness.compare(np.array([1.0 + 1e-4, np.inf, 0.5]), ref, "float32")[0]   # beyond rtol
    assert harness.compare(np.array([1.0 + 5e-6, np.inf, 0.5]), ref, "float32")[0]       # within rtol
    assert not harness.compare(np.array([1.0, np.inf]), ref, "float32")[0]               # shape


def test_failure_details_print_plain_numbers():
    """NumPy 2's repr (np.float64(2.0)) leaked into every report."""
    assert harness.compare(np.array([2.0]), np.array([1.0]), "float64")[2] == "got 2.0, reference 1.0"


@pytest.fixture
def slightly_wrong_mse():
    def compute(c, y_true, y_pred):
        return Terms(c.ops.square(y_pred - y_true) * 1.0001)
    spec = crossloss.register(LossSpec("wrong_mse", compute, formula="(1.0001) e^2", none_shape="y_pred's shape",
                                       reference=squared_error))
    yield spec
    crossloss.unregister(spec.name)


def test_a_wrong_loss_fails_the_harness(slightly_wrong_mse):
    results = harness.check_group(cases.random_cases("wrong_mse"), "numpy", "float64", ("mean",))
    assert results and not any(r.passed for r in results)
    assert "reference" in results[0].detail


def test_assert_backends_agree_fails_with_a_readable_diff(slightly_wrong_mse):
    with pytest.raises(AssertionError) as info:
        crossloss.testing.assert_backends_agree("wrong_mse", backends=["numpy"])
    message = str(info.value)
    assert message.startswith("crossloss.testing: wrong_mse disagrees in")
    assert "numpy" in message and "float64" in message and "reference" in message


def test_assert_backends_agree_passes_on_a_correct_loss_with_given_inputs():
    import numpy as np
    passed = crossloss.testing.assert_backends_agree("huber", np.zeros((3, 2)), np.arange(6.0).reshape(3, 2), delta=2.0)
    assert passed >= 3 * 2 * 3  # backends x dtypes x reductions, at least NumPy's


@pytest.mark.parametrize("given", [{"y_true": np.ones(2)}, {"y_pred": np.ones(2)}])
def test_assert_backends_agree_with_one_input_names_the_other(given):
    missing = ({"y_true", "y_pred"} - set(given)).pop()
    with pytest.raises(LossValueError, match=rf"assert_backends_agree: argument '{missing}' expected an array "
                                             rf"beside {set(given).pop()} .*; got None"):
        crossloss.testing.assert_backends_agree("mse", **given)


@pytest.mark.parametrize("name,y_true,y_pred,error", [
    ("bce", np.ones((2, 2)), np.full((2, 2), 1.5), "argument 'y_pred' expected probabilities in \\[0, 1\\]"),
    ("scce", np.array([0, 5]), np.full((2, 3), 1 / 3), "argument 'y_true' expected integer labels in \\[0, 3\\)"),
    ("mse", np.ones(3), np.ones(4), "shape")])
def test_given_inputs_the_loss_refuses_raise_its_error_not_a_disagreement(name, y_true, y_pred, error):
    """Every backend refused them, and the refusals were reported as the backends disagreeing
    ("AssertionError: binary_crossentropy disagrees in 2 of 2 checks"; a helper's audit)."""
    with pytest.raises(LossValueError, match=error):
        crossloss.testing.assert_backends_agree(name, y_true, y_pred)


def test_given_inputs_with_an_infinity_get_no_finite_differences():
    """Central differences at an infinite input are NaN: a correct loss must still pass."""
    assert crossloss.testing.assert_backends_agree("mse", np.array([0.0, 1.0]), np.array([np.inf, 3.0])) > 0


def test_a_reference_that_raises_fails_its_checks_with_its_error_and_the_report_goes_on():
    """A user's reference that raised stopped the parity report with a traceback, no report
    written (a helper's audit)."""
    def reference(y_true, y_pred):
        raise RuntimeError("boom")
    crossloss.register(LossSpec("raising_reference", lambda c, y_true, y_pred: Terms(c.ops.square(y_pred - y_true)),
                                formula="e^2", none_shape="y_pred's shape", reference=reference))
    try:
        checks = ["value"] + ["gradient vs finite differences"] * ("torch" in BACKENDS)  # (gradients need one)
        report = crossloss.conformance.check("raising_reference", backends="torch" if "torch" in BACKENDS else "numpy")
        assert not report.passed
        for check in checks:
            assert {r.detail for r in report.results if r.check == check} == {"the reference raised RuntimeError: boom"}
    finally:
        crossloss.unregister("raising_reference")


@pytest.mark.skipif("torch" not in BACKENDS, reason="needs torch")
def test_a_loss_with_no_slope_in_its_targets_passes_the_torch_target_gradient_check():
    """Targets that only choose a branch (hinge's 2 [t > 0.5] - 1) give the loss no path back
    to y_true: torch refused the gradient ('does not require grad'), TensorFlow gave None."""
    def compute(c, y_true, y_pred):
        return Terms(c.ops.square(y_pred - c.ops.cast(y_true > 0.5, c.dtype)))
    crossloss.register(LossSpec("thresholded_error", compute, formula="(p - [t > 0.5])^2", none_shape="y_pred's shape",
                                reference=lambda y_true, y_pred: (y_pred - (y_true > 0.5)) ** 2))
    try:
        report = crossloss.conformance.check("thresholded_error", backends="torch")
        targets = [r for r in report.results if r.check == "target gradient vs finite differences"]
        assert targets and all(r.passed for r in targets), [r.detail for r in targets if not r.passed][:1]
    finally:
        crossloss.unregister("thresholded_error")


def test_a_users_reference_gives_the_count_its_mean_divides_by():
    """A mean over the labels kept (Terms(count=...)) could not be checked: the reference's
    mean divided by every entry, and a right loss failed (a helper's audit)."""
    def values(y_true, y_pred, ignore_index=-100):
        keep = y_true != ignore_index
        log_q = y_pred - np.log(np.sum(np.exp(y_pred), axis=-1, keepdims=True))
        return np.where(keep, -np.take_along_axis(log_q, np.where(keep, y_true, 0)[..., None], -1)[..., 0], 0.0), keep

    def compute(c, labels, logits):
        ignored = labels == c.ignore_index
        kept = 1.0 - c.ops.cast(ignored, c.dtype)
        log_q = c.ops.log_softmax_at(logits, c.label_index(c.ops.where(ignored, 0, labels), logits), c.axis)
        return Terms(c.ops.where(ignored, 0.0, -c.ops.reshape(log_q, c.ops.shape(labels))), count=c.ops.sum(kept),
                     counted=kept)
    for name, reference in (("counted_nll", lambda *a, **k: (lambda v, keep: (v, keep.sum()))(*values(*a, **k))),
                            ("uncounted_nll", lambda *a, **k: values(*a, **k)[0])):
        crossloss.register(LossSpec(name, compute, formula="-log q_t over the labels kept", none_shape="labels'",
                                    class_axis=True, y_true="labels", y_pred="logits", reference=reference,
                                    params=(Param("ignore_index", -100, "a label left out"), Param("axis", -1, "")),
                                    parameter_sets=({"ignore_index": 2},)))
    try:
        means = {name: [r for r in crossloss.conformance.check(name, backends="numpy", dtypes="float64").results
                        if r.reduction == "mean" and r.case.startswith(f"{name}(ignore_index=2) random")]
                 for name in ("counted_nll", "uncounted_nll")}
        assert means["counted_nll"] and all(r.passed for r in means["counted_nll"])
        assert not any(r.passed for r in means["uncounted_nll"])  # the same loss, its count left to the harness
    finally:
        crossloss.unregister("counted_nll")
        crossloss.unregister("uncounted_nll")


@pytest.mark.parametrize("wrong_on_labels", [False, True])
def test_a_users_loss_of_dense_targets_or_labels_is_checked_on_both(wrong_on_labels):
    """Integer labels run other math than dense targets; the harness gave a user's loss dense
    targets only, and one 1.5x too large on labels passed (a helper's audit)."""
    def compute(c, y_true, y_pred):
        if not c.labels:
            return 1.0 - c.ops.sum(y_true * y_pred, axis=c.axis)
        q = c.ops.reshape(c.ops.take_along_axis(y_pred, c.label_index(y_true, y_pred), c.axis), c.ops.shape(y_true))
        return (1.0 - q) * (1.5 if wrong_on_labels else 1.0)

    def reference(y_true, y_pred, axis=-1):
        p = np.moveaxis(y_pred, axis, -1)
        if y_true.dtype.kind == "f":
            return 1.0 - np.sum(np.moveaxis(y_true, axis, -1) * p, axis=-1)
        return 1.0 - np.take_along_axis(p, y_true[..., None], -1)[..., 0]
    crossloss.register(LossSpec("target_probability", compute, formula="1 - q_t", none_shape="y_pred's less the "
                                "class axis", class_axis=True, y_true="dense or labels", y_pred="probabilities",
                                reference=reference, params=(Param("axis", -1, "the class axis"),)))
    try:
        failures = crossloss.conformance.check("target_probability", backends="numpy", dtypes="float64").failures
        assert bool(failures) == wrong_on_labels
        assert all(f.case.endswith(" (integer labels)") for f in failures)
        assert crossloss.testing.assert_backends_agree("target_probability", backends=["numpy"]) if not wrong_on_labels \
            else pytest.raises(AssertionError, crossloss.testing.assert_backends_agree, "target_probability", axis=1,
                               backends=["numpy"])
    finally:
        crossloss.unregister("target_probability")


@pytest.mark.filterwarnings("ignore:invalid value encountered in log:RuntimeWarning")  # (the loss's, on NumPy)
def test_a_reference_that_is_nan_on_random_inputs_fails_the_value_checks():
    """NaN against NaN passed: a loss NaN everywhere, its reference too, passed every value check
    of its random cases, which then checked nothing (a helper's audit)."""
    crossloss.register(LossSpec("log_of_values", lambda c, y_true, y_pred: c.ops.log(y_pred) - y_true, formula="log p - t",
                                none_shape="y_pred's shape", reference=lambda y_true, y_pred: np.log(y_pred) - y_true))
    try:
        report = crossloss.conformance.check("log_of_values", backends="numpy", dtypes="float64")
        random = [r for r in report.results if r.check == "value" and " random" in r.case]
        assert random and not any(r.passed for r in random)  # random values: some negative, their log NaN
        assert {r.detail for r in random} == {"the reference is NaN on a random case (inputs outside the loss's "
                                              "domain?)"}
    finally:
        crossloss.unregister("log_of_values")


def test_a_loss_without_reference_is_refused_by_the_harness():
    """Without an independent reference the harness would compare NumPy with itself: a loss
    wrong on every backend passed (a helper's audit)."""
    def compute(c, y_true, y_pred):
        return Terms(c.ops.abs(y_pred - y_true) ** 3 * 2.0)  # twice |e|^3: nothing independent says so
    crossloss.register(LossSpec("cubed_error", compute, formula="|e|^3", none_shape="y_pred's shape"))
    try:
        for run in (lambda: crossloss.conformance.check("cubed_error", quick=True),
                    lambda: crossloss.testing.assert_backends_agree("cubed_error", backends=["numpy"])):
            with pytest.raises(crossloss.LossValueError, match="loss 'cubed_error' expected an independent float64 "
                                                               "NumPy reference"):
                run()
    finally:
        crossloss.unregister("cubed_error")


def test_a_users_parameter_sets_are_checked_besides_the_defaults():
    """A formula that ignores its parameter agrees with the reference at the default only."""
    from crossloss.spec import Param, positive

    def compute(c, y_true, y_pred):
        return Terms(c.ops.square(y_pred - y_true))  # forgets c.k
    params = (Param("k", 1.0, "a factor", positive),)
    reference = lambda y_true, y_pred, k=1.0: k * (y_pred - y_true) ** 2  # noqa: E731
    for name, sets, passes in (("forgets_k", (), True), ("forgets_k_checked", ({"k": 3.0},), False)):
        crossloss.register(LossSpec(name, compute, formula="k e^2", none_shape="y_pred's shape", params=params,
                                    reference=reference, parameter_sets=sets))
        try:
            report = crossloss.conformance.check(name, backends=["numpy"], quick=True)
            assert report.passed is passes and any("k=3" in r.case for r in report.results) is not passes
        finally:
            crossloss.unregister(name)


@pytest.mark.skipif("torch" not in crossloss.available_backends(), reason="torch is not installed")
def test_assert_backends_agree_catches_an_error_only_under_a_trace():
    """Eager exact, torch.compile's graph 0.1% off: the trace checks compare the two."""
    def compute(c, y_true, y_pred):
        values = c.ops.square(y_pred - y_true)
        return Terms(values * 1.001 if crossloss.backends.tracing() else values)
    crossloss.register(LossSpec("traced_error", compute, formula="e^2", none_shape="y_pred's shape",
                                reference=squared_error))
    try:
        assert crossloss.testing.assert_backends_agree("traced_error", backends=["numpy", "torch"], traces=False)
        with pytest.raises(AssertionError, match=r"torch .*torch\.compile\(fullgraph=True\)"):
            crossloss.testing.assert_backends_agree("traced_error", backends=["numpy", "torch"], gradients=False)
    finally:
        crossloss.unregister("traced_error")


@pytest.mark.skipif("torch" not in crossloss.available_backends(), reason="torch is not installed")
def test_assert_backends_agree_catches_a_gradient_only_error():
    """Values exact, torch's gradient three times too large."""
    import torch

    class Steep(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, grad):
            return 3.0 * grad

    def compute(c, y_true, y_pred):
        if c.ops.name == "torch":
            y_pred = Steep.apply(y_pred)
        return Terms(c.ops.square(y_pred - y_true))
    crossloss.register(LossSpec("steep_error", compute, formula="e^2", none_shape="y_pred's shape",
                                reference=squared_error))
    try:
        assert crossloss.testing.assert_backends_agree("steep_error", backends=["numpy", "torch"], gradients=False)
        with pytest.raises(AssertionError, match="torch .*gradient vs finite differences"):
            crossloss.testing.assert_backends_agree("steep_error", backends=["numpy", "torch"])
    finally:
        crossloss.unregister("steep_error")


def test_assert_backends_agree_checks_the_parameters_it_is_given():
    """A loss right at its default parameter and wrong at another: named parameters get cases
    of their own (the catalogue's are for the defaults), and no checks at all is a failure."""
    from crossloss.spec import Param, positive

    def compute(c, y_true, y_pred):
        return Terms(c.ops.square(y_pred - y_true) * (c.scale if c.scale == 1.0 else c.scale * 1.001))
    crossloss.register(LossSpec("scaled_error", compute, formula="scale e^2", none_shape="y_pred's shape",
                                params=(Param("scale", 1.0, "a factor", positive),),
                                reference=lambda y_true, y_pred, scale=1.0: scale * (y_pred - y_true) ** 2))
    try:
        assert crossloss.testing.assert_backends_agree("scaled_error", backends=["numpy"]) > 0
        with pytest.raises(AssertionError, match="disagrees"):
            crossloss.testing.assert_backends_agree("scaled_error", backends=["numpy"], scale=3.0)
        with pytest.raises(AssertionError, match="ran no checks"):
            crossloss.testing.assert_backends_agree("scaled_error", backends=["numpy"], reductions=(), gradients=False,
                                                    traces=False)
    finally:
        crossloss.unregister("scaled_error")


@pytest.mark.skipif(not {"torch", "tensorflow"} <= set(crossloss.available_backends()), reason="needs torch and TF")
def test_a_nan_gradient_under_a_finite_loss_fails_even_where_both_backends_agree():
    """|e| beyond 20 by a where() whose other branch overflows: the value is right, and both
    frameworks give the NaN gradient of cosh's overflow (inf * 0) at |e| = 1e4."""
    def compute(c, y_true, y_pred):
        a = c.ops.abs(y_pred - y_true)
        return Terms(c.ops.where(a > 20.0, a - np.log(2.0), c.ops.log(c.ops.exp(a) + c.ops.exp(-a)) - np.log(2.0)))
    crossloss.register(LossSpec("naive_log_cosh", compute, formula="log cosh e", none_shape="y_pred's shape",
                                reference=lambda y_true, y_pred: np.logaddexp(y_pred - y_true, y_true - y_pred) - np.log(2)))
    try:
        case = cases.Case("naive_log_cosh", "far out", {}, np.zeros((2, 3)), np.array([[1e4, 0.5, -1e4], [1.0, 2.0, 3.0]]))
        result = harness.check_gradient_pair(case, "torch", "tensorflow")
        assert not result.passed and "NaN gradient" in result.detail
    finally:
        crossloss.unregister("naive_log_cosh")


def test_a_users_reference_gets_integer_labels_as_integers():
    """from_unreduced casts real targets to float64 and leaves labels integers, so a
    reference may index with them."""
    from crossloss.conformance.reference import from_unreduced
    nll = from_unreduced(lambda t, p: -np.log(p[np.arange(len(t)), t]))
    assert nll(np.array([0, 1]), np.array([[0.5, 0.5], [0.75, 0.25]])) == pytest.approx((np.log(2) + np.log(4)) / 2)


def _nll_at(c, y_true, y_pred):
    """-w_t log p_t, written right for any layout: the label's probability along c.axis."""
    picked = c.ops.take_along_axis(y_pred, c.label_index(y_true, y_pred), c.axis)
    weight = 1.0 if c.weight is None else c.ops.take_along_axis(c.weight, c.ops.reshape(y_true, (-1,)), 0)
    return Terms(-c.ops.log(c.ops.reshape(picked, c.ops.shape(y_true))) * c.ops.reshape(weight, c.ops.shape(y_true))
                 if c.weight is not None else -c.ops.log(c.ops.reshape(picked, c.ops.shape(y_true))))


def _nll_reference(y_true, y_pred, axis=-1, weight=None):
    p = np.take_along_axis(np.moveaxis(y_pred, axis, -1), y_true[..., None], -1)[..., 0]
    return -np.log(p) * (1.0 if weight is None else np.asarray(weight)[y_true])


@pytest.mark.parametrize("layout", ["(N, H, W, C)", "(N, C, H, W)"])
def test_a_class_axis_loss_wrong_only_beyond_2d_fails_the_harness(layout):
    """Cases of a class-axis loss came only as (N, C): a formula that flattens its inputs the
    wrong way passed (custom-loss audit), though the README promises both 4-D layouts."""
    def flattened(c, y_true, y_pred):  # right for (N, C) alone: a 4-D input reads the wrong entries
        n, classes = c.ops.shape(y_pred)[0], c.ops.shape(y_pred)[c.axis]
        flat = c.ops.reshape(y_pred, (-1, classes))
        labels = c.ops.reshape(y_true, (-1, 1))
        return Terms(c.ops.reshape(-c.ops.log(c.ops.take_along_axis(flat, labels, 1)), c.ops.shape(y_true)))
    params = (Param("axis", -1, "the class axis"), Param("weight", None, "one per class", per_class=True))
    wrong = layout == "(N, C, H, W)"  # flattening is right for the class axis last, wrong for axis 1
    crossloss.register(LossSpec("flat_nll", flattened if wrong else _nll_at, formula="-log p_t", y_true="labels",
                                y_pred="probabilities", class_axis=True, none_shape="the labels' shape",
                                params=params, reference=_nll_reference))
    try:
        report = crossloss.conformance.check("flat_nll", backends=["numpy"], quick=True)
        failed = {r.case for r in report.results if not r.passed}
        assert report.passed is not wrong and (not wrong or any(layout in case for case in failed)), sorted(failed)[:3]
    finally:
        crossloss.unregister("flat_nll")


def test_per_class_parameters_set_the_class_count_of_the_cases():
    """Every case had 5 classes: a parameter set of 3 class weights failed half its checks."""
    crossloss.register(LossSpec("weighted_nll_3", _nll_at, formula="-w_t log p_t", y_true="labels",
                                y_pred="probabilities", class_axis=True, none_shape="the labels' shape",
                                params=(Param("axis", -1, "the class axis"), Param("weight", None, "per class",
                                                                                 per_class=True)),
                                reference=_nll_reference, parameter_sets=({"weight": np.array([0.5, 2.0, 1.0])},)))
    try:
        report = crossloss.conformance.check("weighted_nll_3", backends=["numpy"], quick=True)
        assert report.passed, [r.detail for r in report.results if not r.passed][:3]
        assert any("weight=[0.5, 2.0, 1.0]" in r.case for r in report.results)
    finally:
        crossloss.unregister("weighted_nll_3")


def test_a_failed_report_is_falsy_and_its_repr_is_short(slightly_wrong_mse):
    """`assert conformance.check(...)` passed for a failing loss, and the repr listed every result."""
    report = crossloss.conformance.check("wrong_mse", backends=["numpy"], quick=True)
    assert not report.passed and not report
    checks = len(report.results)
    assert repr(report) == f"ParityReport(passed=False, checks={checks}, failed={checks}, backends=['numpy'])"
    assert crossloss.conformance.check("mse", backends=["numpy"], quick=True)


RUNS_NOTHING = "expected one or more of float64, float32, float16 (run by numpy); got"


@pytest.mark.parametrize("kwargs, message", [
    ({"dtypes": ["flaot32"]}, f"check: argument 'dtypes' {RUNS_NOTHING} 'flaot32'; did you mean 'float32'?"),
    ({"dtypes": ["bfloat16"]}, f"check: argument 'dtypes' {RUNS_NOTHING} 'bfloat16'; did you mean 'float16'?"),
    ({"dtypes": []}, f"check: argument 'dtypes' {RUNS_NOTHING} none"),
    ({"backends": []}, "check: argument 'backends' expected one or more of numpy, torch, tensorflow; got none"),
])
def test_check_refuses_a_selection_that_runs_nothing(slightly_wrong_mse, kwargs, message):
    """Each gave passed=True with no results for a wrong loss (backends=[]: every backend)."""
    with pytest.raises(LossValueError) as info:
        crossloss.conformance.check("wrong_mse", **{"backends": ["numpy"], "quick": True, **kwargs})
    assert str(info.value) == message


check, agree = crossloss.conformance.check, crossloss.testing.assert_backends_agree


@pytest.mark.parametrize("run, error, start, end", [
    (lambda: check("mse", backends=["torc"]), LossValueError,
     "check: argument 'backends' expected one or more of numpy, torch", "; got 'torc'; did you mean 'torch'?"),
    (lambda: agree("mse", backends=["torc"]), LossValueError,
     "assert_backends_agree: argument 'backends' expected one or more of", "; got 'torc'; did you mean 'torch'?"),
    (lambda: agree("mse", backends=["numpy"], dtypes=("bfloat16",)), LossValueError,
     f"assert_backends_agree: argument 'dtypes' {RUNS_NOTHING}", "'bfloat16'; did you mean 'float16'?"),
    (lambda: check("msee", backends=["numpy"]), UnknownLossError,
     "check: argument 'losses' expected one or more of binary_crossentropy, ", "; got 'msee'; did you mean 'mse'?"),
    (lambda: agree("msee"), UnknownLossError, "assert_backends_agree: argument 'name' expected one of binary_",
     "; got 'msee'; did you mean 'mse'?"),
    (lambda: check("mse", backends=["numpy"], quick="no"), LossTypeError,
     "check: argument 'quick' expected True or False", "; got 'no'"),
    (lambda: agree("mse", backends=["numpy"], gradients=1), LossTypeError,
     "assert_backends_agree: argument 'gradients' expected True or False", "; got 1"),
    (lambda: check("mse", backends=3), LossTypeError,
     "check: argument 'backends' expected names (a list or tuple of str, or one name as a str)", "; got 3"),
    (lambda: agree(["mse"]), LossTypeError, "assert_backends_agree: argument 'name' expected a loss name (str)",
     "; got ['mse']"),
])
def test_bad_arguments_of_check_and_assert_backends_agree_are_named(run, error, start, end):
    """They were bare KeyErrors ('torc'; 'n' for a str), or taken (quick='no')."""
    with pytest.raises(error) as info:
        run()
    message = str(info.value)
    assert message.startswith(start) and message.endswith(end), message


def test_check_and_assert_backends_agree_take_one_name_as_a_str():
    report = crossloss.conformance.check("mse", backends="numpy", dtypes="float32", quick=True)
    assert report.passed and {(r.backend, r.dtype) for r in report.results} == {("numpy", "float32")}
    one = crossloss.testing.assert_backends_agree("mse", backends="numpy", dtypes="float32", reductions="sum")
    assert one == crossloss.testing.assert_backends_agree("mse", backends=["numpy"], dtypes=["float32"],
                                                          reductions=["sum"]) > 0


@pytest.mark.parametrize("kwargs, error, start, end", [
    ({"deltaa": 2.0}, LossTypeError, "huber: argument 'deltaa' expected a parameter of huber", "did you mean 'delta'?"),
    ({"delta": -1.0}, LossValueError, "huber: argument 'delta' expected", "got -1.0"),
    ({"reductions": ("meen",)}, LossValueError, "huber: argument 'reduction' expected", "did you mean 'mean'?"),
    ({"backend": "numpy"}, LossTypeError, "assert_backends_agree: argument 'backend' expected a parameter of huber",
     "; got backend='numpy'; did you mean 'backends'?"),
])
def test_assert_backends_agree_refuses_wrong_parameters_once_before_any_check(kwargs, error, start, end):
    """A typo read as 'huber disagrees in 66 of 66 checks', the same error once per check."""
    with pytest.raises(error) as info:
        crossloss.testing.assert_backends_agree("huber", backends=["numpy"], **kwargs)
    message = str(info.value)
    assert message.startswith(start) and message.endswith(end) and "\n" not in message, message


@pytest.mark.skipif("torch" not in crossloss.available_backends(), reason="torch is not installed")
def test_dtypes_select_the_gradient_trace_and_compat_checks_too():
    """A gradient halved on torch, the value right: the float64 gradient checks fail it when
    float64 is selected, and a float32 run, which has no float64 checks, passes (it failed)."""
    def compute(c, y_true, y_pred):
        half = c.ops.square(y_pred - y_true) * 0.5
        return Terms(half + c.ops.stop_gradient(half))
    crossloss.register(LossSpec("half_gradient", compute, formula="e^2", none_shape="y_pred's shape",
                                reference=squared_error))
    try:
        def run(dtype):
            return harness.run(["half_gradient"], ["torch"], [dtype], reductions=("mean",), edges=False, traces=False,
                               compat=False)
        results = run("float32")
        assert results and all(r.passed and r.dtype == "float32" for r in results)
        assert any(not r.passed and r.check == "gradient vs finite differences" for r in run("float64"))
    finally:
        crossloss.unregister("half_gradient")
    half = harness.run(["mse"], ["torch"], ["float16"], reductions=("mean",), edges=False)  # traces and compat too
    assert half and {r.dtype for r in half} == {"float16"}
