"""The public API: names, aliases, specs, parameter binding and the errors users see."""
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

import crossloss
from crossloss import BackendUnavailableError, LossSpec, LossTypeError, LossValueError, Param, Terms, UnknownLossError
from crossloss.conformance.frameworks import to_backend, to_numpy
from crossloss.options import Options

from conftest import BACKENDS

SEED_LOSSES = ["binary_crossentropy", "categorical_crossentropy", "dice", "huber", "kl_divergence",
               "mean_absolute_error", "mean_squared_error", "smooth_l1", "sparse_categorical_crossentropy"]


def test_list_losses_is_sorted_and_complete():
    names = crossloss.list_losses()
    assert names == sorted(names)
    assert set(SEED_LOSSES) <= set(names)


@pytest.mark.parametrize("alias,name", [
    ("mse", "mean_squared_error"), ("mae", "mean_absolute_error"), ("l1", "mean_absolute_error"),
    ("bce", "binary_crossentropy"), ("weighted_binary_crossentropy", "binary_crossentropy"),
    ("cce", "categorical_crossentropy"), ("scce", "sparse_categorical_crossentropy"),
    ("kld", "kl_divergence"), ("kl_div", "kl_divergence"), ("Smooth-L1", "smooth_l1")])
def test_aliases(alias, name):
    assert crossloss.spec(alias).name == name
    assert crossloss.get(alias).spec.name == name


def test_available_backends_lists_installed_frameworks():
    found = crossloss.available_backends()
    assert "numpy" in found and found == sorted(found)


def test_spec_shows_parameters_defaults_docs_and_formula():
    text = str(crossloss.spec("huber"))
    assert "delta = 1.0" in text and "0.5 e^2" in text and "reduction" in text
    assert crossloss.spec("dice").defaults()["smooth_nr"] == 1e-5
    assert "reduction = 'mean': 'mean' | 'sum' | 'none'" in text and "reduction='none' returns" in text


def test_spec_shows_only_the_reductions_a_loss_takes():
    text = LossSpec("mean_only", lambda c, t, p: Terms(c.ops.square(p - t)), formula="e^2",
                    none_shape="y_pred's shape", reductions=("mean",)).describe()
    assert text.endswith("reduction = 'mean': 'mean'") and "'sum'" not in text and "reduction='none'" not in text


@pytest.mark.parametrize("typo,suggestion", [("dise", "dice"), ("hubber", "huber"), ("mean_squared_eror", "mean_squared_error")])
def test_unknown_names_suggest_the_nearest(typo, suggestion):
    with pytest.raises(UnknownLossError) as info:
        crossloss.get(typo)
    assert isinstance(info.value, KeyError)
    assert suggestion in str(info.value) and repr(typo) in str(info.value)


@pytest.mark.parametrize("call,message", [
    (lambda: crossloss.get("huber", delat=1.0), "huber: argument 'delat' expected a parameter of huber"),
    (lambda: crossloss.get("dice", activaton="softmax"), "did you mean 'activation'?"),
    (lambda: crossloss.get("mse", backend="tourch"), "did you mean 'torch'?"),
    (lambda: crossloss.spec("dise"), "spec: argument 'name'"),
    (lambda: crossloss.unregister("dise"), "unregister: argument 'name'"),
    (lambda: crossloss.get("mse", reduction="meen"), "did you mean 'mean'?"),
    (lambda: crossloss.get("mse", compat="troch"), "did you mean 'torch'?"),
    (lambda: crossloss.get("dice", activation="softmx"), "did you mean 'softmax'?"),
    (lambda: crossloss.set_options(value_check="never"), "did you mean 'value_checks'?"),
    (lambda: crossloss.set_options(value_checks="alway"), "did you mean 'always'?"),
    (lambda: crossloss.get("scce", ignore_class=255), "did you mean 'ignore_index' (Keras's ignore_class)?"),
    (lambda: crossloss.get("cce", weight=[1.0, 2.0]), "did you mean 'class_weight' (torch's weight)?"),
    # other frameworks' names that did_you_mean took for crossloss names of like spelling (a helper's audit)
    (lambda: crossloss.get("dice", ignore_class=255), "did you mean 'ignore_index' (Keras's ignore_class)?"),
    (lambda: crossloss.get("bce", weight=[1.0]), "did you mean the call's sample_weight, loss(y_true, y_pred, "
                                                 "sample_weight=...) (torch's weight weighs each entry)?"),
    (lambda: crossloss.get("scce", sample_weight=[1.0]), "did you mean the call's sample_weight"),
    (lambda: crossloss.get("cce", class_axis=1), "did you mean 'axis'?"),
    (lambda: crossloss.get("cce", dim=1), "did you mean 'axis'?"),
    (lambda: crossloss.get("dice", from_logits=True), "did you mean activation='sigmoid' or activation='softmax'"),
    (lambda: crossloss.get("mse", reduction="MEAN"), "got 'MEAN'; did you mean 'mean'?"),
    (lambda: crossloss.get("mse", reduction="sum_over_batch_size"), "did you mean 'mean' (Keras's sum_over_batch_size)?"),
])
def test_unknown_parameter_and_backend_names_suggest_the_nearest_and_name_their_function(call, message):
    with pytest.raises((LossTypeError, LossValueError, UnknownLossError)) as info:
        call()
    assert message in str(info.value) and "; got " in str(info.value)
    assert "did you mean" in str(info.value)


@pytest.mark.parametrize("name,params,argument,expected,error", [
    ("huber", {"delta": 0}, "delta", "> 0", LossValueError),
    ("huber", {"delta": float("nan")}, "delta", "finite", LossValueError),
    ("smooth_l1", {"beta": -1}, "beta", ">= 0", LossValueError),
    ("bce", {"label_smoothing": 1.5}, "label_smoothing", "[0, 1]", LossValueError),
    ("bce", {"from_logits": "yes"}, "from_logits", "True or False", LossTypeError),
    ("bce", {"pos_weight": [1, -2]}, "pos_weight", ">= 0", LossValueError),
    ("cce", {"class_weight": [[1, 2]]}, "class_weight", "1-D", LossValueError),
    ("cce", {"axis": 1.5}, "axis", "integer", LossTypeError),
    ("scce", {"ignore_index": 2.5}, "ignore_index", "integer", LossTypeError),
    ("dice", {"activation": "relu"}, "activation", "'sigmoid'", LossValueError),
    ("dice", {"smooth_dr": -1}, "smooth_dr", ">= 0", LossValueError),
    ("huber", {"delta": "1"}, "delta", "finite real number", LossTypeError),
    ("cce", {"class_weight": ["a", "b"]}, "class_weight", "1-D array of numbers", LossTypeError),
    ("cce", {"class_weight": [[1.0], [1.0, 2.0]]}, "class_weight", "an array of numbers (a ragged list is none)",
     LossValueError),  # NumPy's own text stood as the expected
    ("mse", {"delta": 1.0}, "delta", "a parameter of mean_squared_error", LossTypeError),
    ("mse", {"reduction": "avg"}, "reduction", "'mean', 'sum', 'none'", LossValueError),
    ("mse", {"reduction": None}, "reduction", "'mean', 'sum', 'none'", LossTypeError),
    ("dice", {"activation": 1}, "activation", "'sigmoid'", LossTypeError),
    # an array's == compares entries: its truth value is no answer (nor NumPy's message the error's)
    ("dice", {"activation": np.array(["sigmoid", "softmax"])}, "activation", "one of None, 'sigmoid'", LossTypeError),
    ("dice", {"activation": np.array("softmax")}, "activation", "one of None, 'sigmoid'", LossTypeError),
    # combinations that no input can make valid
    ("dice", {"axis": 0}, "axis", "batch axis", LossValueError),
    ("dice", {"axis": None, "activation": "softmax"}, "axis", "softmax", LossValueError),
    ("dice", {"axis": None, "include_background": False}, "axis", "include_background", LossValueError),
    ("dice", {"axis": None, "ignore_index": 3}, "axis", "ignore_index", LossValueError),
    ("bce", {"compat": "torch", "pos_weight": 2.0}, "pos_weight", "from_logits=True", LossValueError),
    # labels are compared as int64: a wider ignore_index would wrap onto a label (2**64 - 1 onto -1)
    ("scce", {"ignore_index": 2 ** 64 - 1}, "ignore_index", "int64 range", LossValueError),
    ("dice", {"ignore_index": -2 ** 63 - 1}, "ignore_index", "int64 range", LossValueError),
    ("bce", {"pos_weight": True}, "pos_weight", "a number", LossTypeError),  # as delta=True is
    ("cce", {"class_weight": np.array([True, False])}, "class_weight", "array of numbers", LossTypeError),
])
def test_bad_parameters_are_refused_at_get(name, params, argument, expected, error):
    """A value of the wrong type (or an unknown name) is a LossTypeError, a wrong value of the
    right type a LossValueError, as Python's own TypeError and ValueError."""
    with pytest.raises(error) as info:
        crossloss.get(name, **params)
    message = str(info.value)
    assert crossloss.spec(name).name in message and f"'{argument}'" in message and expected in message
    assert "got" in message


@pytest.mark.parametrize("param,class_axis", [("dtype", False), ("labels", True), ("axis", False)])
def test_a_parameter_named_like_the_calls_own_attributes_is_refused_at_register(param, class_axis):
    """Parameters become attributes of the Call the math sees: a loss with an ``axis`` but no
    class axis got c.axis = None and summed over everything, without a word."""
    def compute(c, y_true, y_pred):
        return c.ops.square(y_pred - y_true)
    spec = crossloss.LossSpec("named_like_call", compute, formula="e^2", none_shape="y_pred's shape",
                              params=(crossloss.Param(param, 0, "a parameter"),), class_axis=class_axis)
    with pytest.raises(LossValueError) as info:
        crossloss.register(spec)
    message = str(info.value)
    assert "named_like_call" in message and "'params'" in message and f"got '{param}'" in message
    assert "named_like_call" not in crossloss.list_losses()


def test_unknown_backend_is_refused_by_the_loss_that_asked():
    """get() named itself, not the loss ("get: argument 'backend' ..."), unlike every other error."""
    with pytest.raises(LossValueError, match="^mean_squared_error: argument 'backend' expected one of .*; got 'jaxx'"):
        crossloss.get("mse", backend="jaxx")


def test_missing_framework_names_the_extra_to_install():
    crossloss.register_backend("absent", "crossloss.backends.numpy", "crossloss_no_such_framework", extra="absent")
    try:
        with pytest.raises(BackendUnavailableError) as info:
            crossloss.get("mse", backend="absent")(np.ones(2), np.ones(2))
        assert isinstance(info.value, ImportError)
        assert str(info.value).startswith("mean_squared_error: argument 'backend' ('absent') expected the package "
                                          "'crossloss_no_such_framework' to be installed; got ImportError")
        assert "pip install 'crossloss[absent]'" in str(info.value)
    finally:
        crossloss.backends._backends.pop("absent")


@pytest.mark.parametrize("module,package", [("crossloss.torch", "torch"), ("crossloss.keras", "keras")])
def test_an_adapter_without_its_framework_names_the_extra_to_install(module, package):
    """A fresh interpreter where the framework cannot be imported (None in sys.modules)."""
    code = (f"import sys; sys.modules[{package!r}] = None\n"
            f"try:\n    import {module}\nexcept ImportError as error:\n    print(type(error).__name__, error)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert out.startswith("BackendUnavailableError") and f"pip install 'crossloss[{package}]'" in out, out


def test_config_and_repr_carry_every_parameter():
    loss = crossloss.get("huber", delta=2.0, reduction="sum", backend="numpy")
    config = loss.get_config()
    assert config == {"name": "huber", "backend": "numpy", "reduction": "sum", "delta": 2.0}
    assert crossloss.get(**config).get_config() == config
    assert repr(loss) == "crossloss.get('huber', delta=2.0, reduction='sum', backend='numpy')"
    weighted = crossloss.get("cce", class_weight=np.array([1.0, 2.0]))  # an array differs from the default None
    assert repr(weighted) == "crossloss.get('categorical_crossentropy', class_weight=array([1., 2.]))"


def test_a_second_name_is_refused_by_name_and_a_keyword_name_alone_is_the_loss():
    """Keras users give a loss a display name (keras.losses.Huber(name="h")); here the loss's
    own name is get()'s first argument, which get(**config) gives by keyword."""
    getters = [crossloss.get]
    if "torch" in BACKENDS:
        from crossloss import torch as torch_modules
        getters.append(torch_modules.get)
    for get in getters:
        with pytest.raises(LossTypeError) as info:
            get("huber", name="h")
        assert str(info.value).startswith("huber: argument 'name' expected one name") and \
            "got 'huber' and name='h'" in str(info.value)
        assert repr(get(name="huber", delta=2.0)).endswith("('huber', delta=2.0)")
        with pytest.raises(LossTypeError, match="argument 'name' expected a loss name"):
            get()


def test_options_blocks_that_overlap_without_nesting_leave_no_setting_behind():
    """asyncio tasks (or generators) holding blocks across a suspension: the block left first
    deleted the other's setting, and the other's exit then restored "never" on the thread for
    good, so a probability of 1.5 gave NaN, unchecked (a helper's audit)."""
    import asyncio
    seen = {}

    async def block(mode, pause, name):
        with crossloss.options(value_checks=mode):
            await asyncio.sleep(pause)
            seen[name] = crossloss.get_options().value_checks

    async def both():
        await asyncio.gather(block("never", 0, "first"), block("always", 0.01, "second"))
    asyncio.run(both())
    assert seen["second"] == "always"  # its own, though the first block left meanwhile
    assert crossloss.get_options().value_checks == "auto"
    with pytest.raises(LossValueError, match="y_pred' expected probabilities in"):
        crossloss.get("bce")(np.array([0.0, 1.0]), np.array([0.5, 1.5]))


def test_dropping_a_caches_oldest_entry_survives_another_threads_insert():
    """Another thread's insert between iter() and next() raised "dictionary changed size during
    iteration" out of a loss call, or out of get() (a helper's audit: 8 threads, 5 of 8 runs)."""
    from crossloss import core

    class Racing(dict):
        def __iter__(self):
            keys = super().__iter__()
            self["another thread's"] = None
            return keys
    cache = Racing(oldest=1, newer=2)
    core._drop_oldest(cache)
    assert "newer" in cache


def test_options_validate_and_restore():
    with crossloss.options(value_checks="never"):
        assert crossloss.get_options().value_checks == "never"
    assert crossloss.get_options().value_checks == "auto"
    with pytest.raises(LossValueError, match="value_checks"):
        crossloss.set_options(value_checks="sometimes")


@pytest.mark.parametrize("changes,error,message", [
    ({"value_check": "never"}, LossTypeError, "options: argument 'value_check' expected one of"),  # as get()'s
    ({"value_checks": True}, LossTypeError, "options: argument 'value_checks' expected one of ('auto', "),
    ({"native_kernels": "no"}, LossTypeError, "options: argument 'native_kernels' expected True or False; got 'no'"),
    ({"value_checks": "sometimes"}, LossValueError, "options: argument 'value_checks' expected one of"),
])
def test_a_bad_setting_raises_what_a_bad_parameter_of_get_raises(changes, error, message):
    for change in (crossloss.set_options, crossloss.options):
        with pytest.raises(error) as info:
            with change(**changes):  # (set_options raises before the with)
                pass
        assert message in str(info.value)
    assert crossloss.get_options() == Options()


def test_a_numpy_bool_is_a_setting_as_it_is_a_parameter():
    with crossloss.options(native_kernels=np.False_) as now:
        assert now.native_kernels is False


def test_set_options_from_two_threads_keeps_both_changes():
    """Each thread sets one setting, many times over: a read-modify-write without a lock lost
    one of the two in most trials."""
    import threading
    lost, interval = 0, sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, as a busy process does
    try:
        for _ in range(20):
            crossloss.set_options(value_checks="auto", native_kernels=True)
            start = threading.Barrier(2)

            def setting(**change):
                start.wait()
                for _ in range(500):
                    crossloss.set_options(**change)
            threads = [threading.Thread(target=setting, kwargs=c) for c in ({"value_checks": "never"},
                                                                             {"native_kernels": False})]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
            lost += crossloss.get_options() != Options("never", False)
    finally:
        sys.setswitchinterval(interval)
        crossloss.set_options(value_checks="auto", native_kernels=True)
    assert lost == 0


def _run(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_import_loads_no_framework():
    out = _run("import sys, crossloss; print(sorted(m for m in ('torch', 'tensorflow', 'keras', 'jax') if m in sys.modules))")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_numpy_call_imports_no_framework():
    out = _run("import sys, numpy as np, crossloss\n"
               "v = crossloss.get('dice')(np.ones((2, 3)), np.full((2, 3), 0.5))\n"
               "print(type(v).__module__, sorted(m for m in ('torch', 'tensorflow') if m in sys.modules))")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "numpy []"


def test_a_non_tensor_input_is_a_type_error():
    with pytest.raises(LossTypeError, match="y_pred"):
        crossloss.get("mse")(np.ones(3), object())
    with pytest.raises(LossTypeError, match="y_pred"):
        crossloss.get("mse")(np.ones(3), np.ones(3, dtype=complex))


@pytest.mark.parametrize("backend", [None, "numpy", "torch", "tensorflow"])
@pytest.mark.parametrize("name,params", [("scce", {"class_weight": [1.0, 2.0, 3.0]}),
                                         ("dice", {"activation": "softmax", "squared": True}),
                                         ("kld", {"compat": "torch", "reduction": "batchmean"})])
def test_a_loss_pickles_and_deep_copies_after_it_has_run(backend, name, params):
    """Plans (per-signature classes) and the backend module stay out of the pickle; a model
    that holds a used loss can be saved with torch.save or pickle, or deep-copied."""
    import copy
    import pickle
    if backend is not None and backend not in crossloss.available_backends():
        pytest.skip(f"{backend} is not installed")
    loss = crossloss.get(name, backend=backend, **params)
    labels, probs = np.array([0, 1, 2]), np.array([[0.5, 0.3, 0.2], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    y_true = probs[::-1].copy() if name == "kld" else labels
    y_pred = np.log(probs) if name == "kld" else probs  # torch's kl_div takes log-probabilities
    before = float(loss(y_true, y_pred))
    for again in (pickle.loads(pickle.dumps(loss)), copy.deepcopy(loss)):
        assert float(again(y_true, y_pred)) == before and repr(again) == repr(loss)


def test_an_options_block_is_its_own_threads():
    """Two threads' overlapping blocks (A enters, B enters, A leaves, B leaves) each see their
    own settings and leave the process's as they were; set_options is the process's."""
    import threading
    entered, left, seen = threading.Event(), threading.Event(), {}

    def first():
        with crossloss.options(value_checks="never"):
            entered.wait()
            seen["first"] = crossloss.get_options()
        left.set()

    def second():
        with crossloss.options(native_kernels=False):
            entered.set()
            left.wait()
            seen["second"] = crossloss.get_options()
        seen["second after"] = crossloss.get_options()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    default = crossloss.get_options()
    assert seen["first"].value_checks == "never" and seen["first"].native_kernels
    assert seen["second"].value_checks == "auto" and not seen["second"].native_kernels
    assert seen["second after"] == default and default.value_checks == "auto" and default.native_kernels
    with pytest.raises(LossValueError):  # checks are on again
        crossloss.get("bce")(1.0, 1.5)


def test_a_weight_tensor_that_requires_grad_is_refused():
    """Weights are read once at get(): a tensor being learned would silently get no gradient
    (torch's own losses refuse it too)."""
    torch = pytest.importorskip("torch")
    with pytest.raises(LossTypeError, match="'pos_weight' expected a constant .* not a tensor that requires grad"):
        crossloss.get("bce", from_logits=True, pos_weight=torch.ones(3, requires_grad=True))
    crossloss.get("bce", from_logits=True, pos_weight=torch.ones(3, requires_grad=True).detach())


def _square(c, y_true, y_pred):
    return c.ops.square(y_pred - y_true)


@pytest.mark.parametrize("kwargs,error,message", [
    ({"aliases": "myd"}, LossTypeError, "'aliases' expected a tuple of names"),
    ({"name": "my loss"}, LossValueError, "'name' expected a loss name that is a Python identifier"),
    ({"name": ""}, LossValueError, "'name' expected a loss name that is a Python identifier"),
    ({"params": [crossloss.Param("k", 1.0, "k"), crossloss.Param("k", 2.0, "k")]}, LossValueError,
     "'params' expected distinct parameter names; got 'k' twice"),
    ({"params": [crossloss.Param("reduction", 1.0, "r")]}, LossValueError, "got 'reduction'"),
    ({"params": [crossloss.Param("sample_weight", 1.0, "w")]}, LossValueError, "got 'sample_weight'"),
    ({"params": [crossloss.Param("k", -1.0, "k", crossloss.spec("huber").params[0].check)]}, LossValueError,
     "defaults that pass their own check (k: "),
    ({"params": [("k", 1.0)]}, LossTypeError, "'params' expected Param(name, default, doc, check) objects"),
    ({"reference": 42}, LossTypeError, "'reference' expected None or a function"),
    ({"reference": lambda y_true: y_true}, LossTypeError, "'reference' expected a function (y_true, y_pred, **params)"),
    ({"y_pred": "probabilites"}, LossValueError, "did you mean 'probabilities'?"),
    ({"params": [crossloss.Param("k", 1.0, "k")], "reference": lambda t, p, k: p,
      "parameter_sets": [{"q": 2.0}]}, LossValueError, "'parameter_sets' expected dicts of its parameters (k)"),
    # labels were never range-checked without a class axis; a class axis without 'axis' gave None
    ({"y_true": "labels"}, LossValueError, "'y_true' expected a kind that needs no class axis, or class_axis=True"),
    ({"y_pred": "labels"}, LossValueError, "'y_pred' expected a kind of prediction"),
    ({"class_axis": True}, LossValueError, "'params' expected Param('axis', -1, ...) for a loss with class_axis=True"),
    ({"params": [crossloss.Param("axis", -1, "a")]}, LossValueError, "expected 'axis' only with class_axis=True"),
    ({"aliases": ("mal", "mal")}, LossValueError, "'aliases' expected names other than the loss's own, each once"),
    ({"aliases": ("malformed_loss",)}, LossValueError, "'aliases' expected names other than the loss's own"),
    ({"none_shape": None}, LossTypeError, "'none_shape' expected text"),
    ({"params": [crossloss.Param("k", 1.0, "k", crossloss.spec("huber").params[0].check)], "reference": lambda t, p, k: p,
      "parameter_sets": [{"k": -1.0}]}, LossValueError, "'parameter_sets' expected values that pass their parameter's check"),
    # keywords, and names no call could pass but as **{name: value}
    ({"name": "class"}, LossValueError, "'name' expected a loss name that is a Python identifier and no keyword"),
    ({"aliases": ("None",)}, LossTypeError, "'aliases' expected a tuple of names, each a Python identifier and no"),
    ({"params": [crossloss.Param("a-b", 1.0, "k")], "reference": lambda t, p, **k: p}, LossValueError,
     "'params' expected parameter names that are Python identifiers and no keyword; got 'a-b'"),
    # replace=True replaces a loss of the same name only: 'mse' stayed the new loss's after its unregister
    ({"aliases": ("mse",), "replace": True}, LossValueError, "loss: argument 'aliases' expected a new name; got 'mse', "
     "already taken by 'mean_squared_error' (crossloss's own loss cannot be replaced)"),
    # the decorator's clash names its own argument, not register()'s 'spec'
    ({"name": "MSE"}, LossValueError, "loss: argument 'name' expected a new name; got 'mse', already taken by "
     "'mean_squared_error'"),
])
def test_a_definition_that_could_not_work_is_refused_at_registration(kwargs, error, message):
    """Each was accepted and failed later, or never: aliases 'myd' registered 'm', 'y', 'd'."""
    kwargs = {"name": "malformed_loss", "formula": "e^2", "reference": lambda y_true, y_pred: y_pred, **kwargs}
    before = set(crossloss.list_losses())
    with pytest.raises(error) as info:
        crossloss.loss(kwargs.pop("name"), **kwargs)(_square)
    assert message in str(info.value)
    assert set(crossloss.list_losses()) == before
    with pytest.raises(crossloss.UnknownLossError):
        crossloss.spec("m")


def test_a_name_that_is_no_string_is_a_type_error():
    with pytest.raises(LossTypeError, match="get: argument 'name' expected a loss name"):
        crossloss.get(3)


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
def test_the_torch_module_names_itself_on_an_unknown_loss():
    import crossloss.torch
    with pytest.raises(UnknownLossError, match=r"crossloss\.torch\.get: argument 'name'.*did you mean 'huber'"):
        crossloss.torch.get("hubber")


def test_a_fraction_is_a_weight_as_it_is_a_delta():
    y_true, y_pred = np.array([1.0, 0.0]), np.array([0.3, 0.6])
    assert float(crossloss.get("bce", pos_weight=Fraction(1, 2))(y_true, y_pred)) == float(
        crossloss.get("bce", pos_weight=0.5)(y_true, y_pred))


def test_bce_weights_are_counted_along_the_last_axis_in_its_message():
    """BCE has no class axis: its weights are one per entry of the last axis, as documented
    (the message spoke of a class axis; a helper's audit)."""
    with pytest.raises(LossValueError, match=r"'pos_weight' expected one weight per entry of the last axis, 4 for "
                                             r"y_pred of shape \(2, 3, 4\); got 3 weights$"):
        crossloss.get("bce", pos_weight=[1.0, 2.0, 3.0])(np.zeros((2, 3, 4)), np.full((2, 3, 4), 0.5))


def test_one_class_weight_for_many_classes_is_refused_as_torch_refuses_it():
    """class_weight=[2.0] for three classes is a mistake (torch's cross_entropy refuses it);
    a scalar weighs every class. BCE's pos_weight of one entry broadcasts, as torch's does."""
    labels, probabilities = np.array([0, 2]), np.array([[0.2, 0.3, 0.5], [0.1, 0.6, 0.3]])
    for name, y_true in (("scce", labels), ("cce", np.eye(3)[labels])):
        with pytest.raises(LossValueError, match="'class_weight' expected one weight per class, 3.*got 1 weight$"):
            crossloss.get(name, class_weight=[2.0])(y_true, probabilities)
        assert float(crossloss.get(name, class_weight=2.0)(y_true, probabilities)) > 0
    targets = np.eye(3)[labels]
    assert float(crossloss.get("bce", pos_weight=[2.0])(targets, probabilities)) == float(
        crossloss.get("bce", pos_weight=2.0)(targets, probabilities))


def test_a_formula_that_is_no_function_is_refused_by_name():
    with pytest.raises(LossTypeError, match="malformed_loss: argument 'compute' expected a function"):
        crossloss.loss("malformed_loss", formula="e^2", reference=lambda t, p: p)(3)


def test_a_module_that_registers_a_loss_can_load_again(tmp_path, monkeypatch):
    """importlib.reload (Jupyter's autoreload, pytest's re-imports): the same function of the
    same module replaces its loss; another function under the name is still refused."""
    import importlib
    (tmp_path / "reloaded_losses.py").write_text(
        "import crossloss\n\n"
        "@crossloss.loss('reloaded_error', formula='e^2', reference=lambda t, p: (p - t) ** 2)\n"
        "def reloaded_error(c, y_true, y_pred):\n    return c.ops.square(y_pred - y_true)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("reloaded_losses")
    try:
        importlib.reload(module)
        assert float(crossloss.get("reloaded_error")(np.zeros(2), np.array([1.0, 3.0]))) == 5.0
        with pytest.raises(LossValueError, match="already taken"):
            crossloss.loss("reloaded_error", formula="e", reference=lambda t, p: p - t)(lambda c, t, p: p - t)
    finally:
        crossloss.unregister("reloaded_error")


def test_register_of_no_spec_is_a_crossloss_type_error():
    with pytest.raises(LossTypeError, match="register: argument 'spec' expected a LossSpec; got str") as info:
        crossloss.register("my_loss")
    assert isinstance(info.value, crossloss.CrosslossError)


def test_a_second_lambda_or_factory_function_under_a_taken_name_is_refused():
    """Lambdas, and functions nested in one factory, share their module and qualified name;
    that must not pass for a reload, which would replace the first loss silently."""
    def factory(power):
        def compute(c, y_true, y_pred):
            return Terms(c.ops.abs(y_pred - y_true) ** power)
        return compute
    for first, second in ((lambda c, t, p: Terms(c.ops.square(p - t)), lambda c, t, p: Terms(c.ops.abs(p - t))),
                          (factory(2), factory(3))):
        crossloss.register(LossSpec("twice_registered", first, formula="e^k", none_shape="y_pred's shape"))
        try:
            with pytest.raises(LossValueError, match="already taken by 'twice_registered'"):
                crossloss.register(LossSpec("twice_registered", second, formula="e", none_shape="y_pred's shape"))
            assert float(crossloss.get("twice_registered")(np.zeros(2), np.full(2, 3.0))) == 9.0  # the first's
        finally:
            crossloss.unregister("twice_registered")


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("name", ["kld", "cce", "scce"])
def test_the_torch_module_takes_torch_profiles_whose_class_axis_is_fixed(name):
    """compat="torch" losses have torch's class axis 1 and no 'axis' parameter: the module
    must not pass its own."""
    import torch
    module = crossloss.torch.get(name, compat="torch")
    log_q = torch.log_softmax(torch.randn(3, 4, dtype=torch.float64), 1)
    y_true = torch.tensor([0, 3, 1]) if name == "scce" else torch.softmax(torch.randn(3, 4, dtype=torch.float64), 1)
    logits = log_q if name == "kld" else torch.randn(3, 4, dtype=torch.float64)  # torch's CE takes logits
    assert torch.isfinite(module(logits, y_true))  # forward(input, target)


@pytest.mark.parametrize("name,keyword,hint", [
    ("mse", "weights", "did you mean 'sample_weight'?"), ("mse", "target", "did you mean 'y_true'?"),
    ("bce", "from_logits", "'from_logits' is a parameter of the loss"),
    ("cce", "weight", "'class_weight' is a parameter of the loss"), ("mse", "colour", "got the keyword 'colour'")])
@pytest.mark.parametrize("method", ["__call__", "terms", "parts"])
def test_an_unknown_keyword_of_a_call_is_refused_by_name(name, keyword, hint, method):
    """Python's own TypeError named neither the loss nor what the keyword might have meant
    (in parts() and terms(), the entry points of global means and Keras, too)."""
    with pytest.raises(LossTypeError, match=rf"{crossloss.spec(name).name}: argument '{keyword}' expected an "
                                            r"argument of the call \(y_true, y_pred, sample_weight\)") as info:
        getattr(crossloss.get(name), method)(np.ones((2, 2)), np.full((2, 2), 0.5), **{keyword: 1.0})
    assert hint in str(info.value)


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
def test_a_torch_module_takes_backend_torch_and_refuses_another():
    """backend= failed with "get() got multiple values for keyword argument 'backend'"."""
    import crossloss.torch
    assert crossloss.torch.get("mse", backend="torch").loss.params == crossloss.torch.get("mse").loss.params
    assert crossloss.torch.get("mse", backend="PyTorch").loss.params == crossloss.torch.get("mse").loss.params
    with pytest.raises(LossValueError, match="^mean_squared_error: argument 'backend' expected 'torch' or no "
                                             "backend .*; got 'numpy'"):
        crossloss.torch.get("mse", backend="numpy")
    with pytest.raises(LossValueError, match="^mean_squared_error: argument 'backend' expected one of"):
        crossloss.torch.get("mse", backend="jaxx")  # it named get() ("get: argument 'backend'")


def test_inputs_given_in_another_frameworks_names_are_named():
    with pytest.raises(LossTypeError, match="argument 'input' .* did you mean 'y_pred'"):
        crossloss.get("mse")(input=np.ones(2), target=np.ones(2))
    with pytest.raises(LossTypeError, match="argument 'y_pred' expected an array, a tensor or a number; got None"):
        crossloss.get("mse")(np.ones(2))


@pytest.mark.parametrize("name", ["dice", "bce", "mean_squared_error"])
def test_unregister_leaves_crossloss_own_losses(name):
    """unregister('bce') (an alias) deleted all of binary_crossentropy, and 'dice' went too."""
    with pytest.raises(LossValueError, match="unregister: argument 'name' expected the name of a loss registered"):
        crossloss.unregister(name)
    assert crossloss.spec(name).name in crossloss.list_losses()


def test_a_class_axis_and_per_class_weights_of_a_users_loss_are_checked_as_the_builtins():
    """Without a check of their own, axis='x' failed inside a call with a raw TypeError, and
    per-class weights given as a list (or a torch tensor) likewise; axis=None gave a number."""
    def weighted_nll(c, y_true, y_pred):
        picked = c.ops.take_along_axis(c.ops.log(y_pred), c.label_index(y_true, y_pred), c.axis)
        return -picked * c.ops.sum(c.weight)  # (the weights as one array, whatever they came as)
    crossloss.loss("users_weighted_nll", formula="-w_t log p_t", y_true="labels", y_pred="probabilities",
                   class_axis=True, params=[crossloss.Param("axis", -1, "class axis"),
                                            crossloss.Param("weight", None, "per class", per_class=True)],
                   reference=lambda t, p, axis=-1, weight=None: p)(weighted_nll)
    try:
        for bad in ("x", 1.0, None, True):
            with pytest.raises(LossTypeError, match="users_weighted_nll: argument 'axis' expected an integer axis"):
                crossloss.get("users_weighted_nll", axis=bad)
        labels, probs = np.array([0, 2]), np.array([[0.2, 0.3, 0.5], [0.1, 0.6, 0.3]])
        as_array = float(crossloss.get("users_weighted_nll", weight=np.array([1.0, 2.0, 3.0]))(labels, probs))
        assert float(crossloss.get("users_weighted_nll", weight=[1.0, 2.0, 3.0])(labels, probs)) == as_array
    finally:
        crossloss.unregister("users_weighted_nll")


def test_a_users_parameter_sets_pass_the_default_checks_at_registration():
    """A per-class parameter without a check of its own takes weights_or_none's, from
    registration on: a negative weight in parameter_sets is refused there, not in the harness."""
    with pytest.raises(LossValueError, match="'parameter_sets' expected values that pass their parameter's check"):
        crossloss.loss("negative_weights", formula="-log p_t", y_true="labels", y_pred="probabilities",
                       class_axis=True, params=[crossloss.Param("axis", -1, "class axis"),
                                                crossloss.Param("weight", None, "per class", per_class=True)],
                       reference=lambda t, p, axis=-1, weight=None: p,
                       parameter_sets=[{"weight": [1.0, -2.0]}])(_square)
    assert "negative_weights" not in crossloss.list_losses()


def test_a_0d_numpy_array_is_a_number_parameter_as_keras_takes_it():
    """delta=np.array(2.0) was refused ("expected a finite real number") where keras.losses.Huber takes it."""
    loss = crossloss.get("huber", delta=np.array(2.0))
    assert loss.params["delta"] == 2.0 and float(loss(np.zeros(1), np.full(1, 3.0))) == 2.0 * (3.0 - 0.5 * 2.0)
    with pytest.raises(LossTypeError, match="'delta' expected a finite real number"):
        crossloss.get("huber", delta=np.array([2.0]))


def test_backend_names_are_taken_in_any_case_as_loss_names_are():
    """get('MSE') worked and backend='Torch' was refused; a backend that is no str was a ValueError."""
    assert crossloss.get("mse", backend="NumPy")(np.zeros(2), np.ones(2)) == 1.0
    with pytest.raises(LossTypeError, match="^mean_squared_error: argument 'backend' expected one of .* \\(a str\\); got 3"):
        crossloss.get("mse", backend=3)


def test_compat_profiles_are_named_in_any_case():
    """compat='Torch' was refused where loss and backend names are taken in any case; a list was a raw TypeError."""
    assert crossloss.get("mse", compat="Torch").spec.compat == "torch"
    with pytest.raises(LossTypeError, match="'compat' expected None, 'torch' or 'keras'; got \\['torch'\\]"):
        crossloss.get("mse", compat=["torch"])


def _weighted_cross_entropy(labels, probabilities, class_weight):
    """sum(w_y * -log p_y) / sum(w_y), in float64 (the textbook weighted mean)."""
    w = np.asarray(class_weight, np.float64)[labels]
    picked = np.take_along_axis(probabilities.astype(np.float64), labels[:, None], axis=1)[:, 0]
    return float(np.sum(w * -np.log(picked)) / np.sum(w))


def test_losses_bound_alike_share_their_plans_and_no_others_do():
    """get(...)(y_true, y_pred) inside a training step planned on every call (about 80 us at
    1e3); losses bound to the same spec, reduction, backend and parameters share plans now.
    A plan holds its parameters (class weights as tensors): a loss bound otherwise, or a
    replaced loss of the same name, must get its own."""
    rng = np.random.default_rng(3)
    labels, p = rng.integers(0, 3, 8), rng.dirichlet(np.ones(3), 8)
    first = crossloss.get("scce", class_weight=[1.0, 2.0, 3.0])
    first(labels, p)
    again = crossloss.get("sparse_categorical_crossentropy", class_weight=(1, 2, 3.0))  # binds to the same floats
    assert float(again(labels, p)) == float(first(labels, p)) and again._last is first._last
    for weights in ([1.0, 2.0, 4.0], [1.0, 2.0, 3.0000000000000004]):
        other = crossloss.get("scce", class_weight=weights)
        assert other._last is None or other._last is not first._last
        assert float(other(labels, p)) == pytest.approx(_weighted_cross_entropy(labels, p, weights), rel=1e-12)
        assert other._plans is not first._plans
    assert crossloss.get("scce", class_weight=[1.0, 2.0, 3.0], reduction="sum")._plans is not first._plans
    assert crossloss.get("scce", class_weight=[1.0, 2.0, 3.0], backend="numpy")._plans is not first._plans

    @crossloss.loss("plan_sharing_probe", formula="l = y_pred - y_true", reference=lambda y_true, y_pred: y_pred - y_true)
    def probe(c, y_true, y_pred):
        return y_pred - y_true
    try:
        x = np.arange(3.0)
        assert float(crossloss.get("plan_sharing_probe")(np.zeros(3), x)) == 1.0

        @crossloss.loss("plan_sharing_probe", formula="l = y_pred - y_true", y_pred="probabilities",
                        reference=lambda y_true, y_pred: y_pred - y_true, replace=True)
        def on_probabilities(c, y_true, y_pred):
            return y_pred - y_true
        with pytest.raises(LossValueError, match="plan_sharing_probe: argument 'y_pred' expected probabilities"):
            crossloss.get("plan_sharing_probe")(np.zeros(3), x)  # the new spec's checks, not the old plan's
    finally:
        crossloss.unregister("plan_sharing_probe")


def test_a_loss_remembers_the_plans_of_many_shapes():
    """Variable sequence lengths give a shape per batch: past 64 shapes every plan was
    dropped at once, so a cycle of 65 planned every call anew (8x the time at 1e3 values)."""
    loss = crossloss.get("huber", delta=0.625)  # (parameters no other test binds: its plans are its own)
    inputs = [np.zeros((n, 3)) for n in range(1, 201)]
    for x in inputs:
        loss(x, x)
    plans = dict(loss._plans)
    for x in inputs:
        loss(x, x)
    assert len(plans) == 200 and all(loss._plans[key] is plan for key, plan in plans.items())


def test_a_losss_parameters_reduction_and_backend_are_read_only(backend):
    """They were plain attributes that skipped get()'s checks: a Huber delta of -5 written before
    the first call gave -27.5 (a negative loss) on NumPy and TensorFlow, and after it the write was
    ignored; reduction='avg' was taken as the mean (a helper's audit)."""
    loss = crossloss.get("huber", delta=2.0, backend=backend)
    for name, value in (("params", {"delta": -5.0}), ("reduction", "avg"), ("backend", "numpy")):
        with pytest.raises(AttributeError, match=rf"^crossloss.get\('huber', delta=2.0, backend='{backend}'\): "
                                                 rf"'{name}' is read-only"):
            setattr(loss, name, value)
    with pytest.raises(TypeError):
        loss.params["delta"] = -5.0
    assert dict(loss.params) == {"delta": 2.0} and loss.reduction == "mean" and loss.backend == backend
    y_true, y_pred = (to_backend(backend, np.array(v), "float64") for v in ([0.0], [3.0]))
    assert float(to_numpy(loss(y_true, y_pred))) == 2.0 * (3.0 - 0.5 * 2.0)


# ---- the op table and registration, as a user's own loss meets them (a helper's audit) -------

def _ops(backend):
    return crossloss.backends.load(backend).OPS


@pytest.mark.parametrize("reduce", ["sum", "mean", "any", "sum_over", "sum_product"])
def test_a_reduction_over_no_axes_leaves_its_input_on_every_backend(backend, reduce):
    """torch reduces every axis over an empty tuple of them; a per-sample, per-class formula
    on (B, C) inputs has no spatial axes to sum, and its mean came out 0.25 for 0.5756."""
    ops, x = _ops(backend), np.arange(6.0).reshape(2, 3)
    t = to_backend(backend, x > 2 if reduce == "any" else x, "float64")
    out = {"sum": lambda: ops.sum(t, axis=()), "mean": lambda: ops.mean(t, axis=()), "any": lambda: ops.any(t, ()),
           "sum_over": lambda: ops.sum_over(t, ()), "sum_product": lambda: ops.sum_product(t, t, ())}[reduce]()
    np.testing.assert_array_equal(to_numpy(out), x * x if reduce == "sum_product" else x > 2 if reduce == "any" else x)


def test_maximum_and_minimum_take_a_python_number_first_too(backend):
    ops, x = _ops(backend), np.array([-1.0, 0.5, 2.0])
    t = to_backend(backend, x, "float64")
    np.testing.assert_array_equal(to_numpy(ops.maximum(0.0, t)), np.maximum(0.0, x))
    np.testing.assert_array_equal(to_numpy(ops.minimum(1.0, t)), np.minimum(1.0, x))


def test_where_of_two_python_numbers_is_refused_by_name(backend):
    """No tensor gives the dtype: NumPy made float64 of float32 inputs, torch float32 of float64
    ones, TensorFlow raised an AttributeError."""
    ops, t = _ops(backend), to_backend(backend, np.array([1.0, 3.0]), "float32")
    with pytest.raises(LossTypeError, match=r"ops.where: argument 'a, b' expected a tensor among them.*got two "
                                            r"Python numbers, 0.1 and 0.3"):
        ops.where(t > 2, 0.1, 0.3)
    assert crossloss.backends.load(backend).OPS.dtype_name(ops.where(t > 2, t, 0.3)) == "float32"


def test_a_spec_whose_compute_returns_plain_values_is_registered_as_the_decorator_does():
    spec = crossloss.register(LossSpec("plain_values", lambda c, y_true, y_pred: c.ops.square(y_pred - y_true),
                                       formula="e^2", none_shape="y_pred's shape"))
    try:
        assert float(crossloss.get("plain_values")(np.zeros(2), np.array([1.0, 3.0]))) == 5.0
        assert crossloss.register(spec, replace=True).compute is spec.compute  # wrapped once
    finally:
        crossloss.unregister("plain_values")


@pytest.mark.parametrize("check,message", [
    (lambda p: p["a"] > 0, "expected a combination check_params accepts; got a=-1.0"),  # False was taken as yes
    (lambda p: (_ for _ in ()).throw(ValueError("a > 0")) if p["a"] <= 0 else None, "expected a > 0; got a=-1.0"),
])
def test_check_params_refusals_name_the_loss_and_the_parameters_given(check, message):
    crossloss.register(LossSpec("checked_scale", lambda c, y_true, y_pred: c.a * c.ops.square(y_pred - y_true),
                                formula="a e^2", none_shape="y_pred's shape", params=(Param("a", 1.0, "scale"),),
                                check_params=check))
    try:
        with pytest.raises(LossValueError) as info:
            crossloss.get("checked_scale", a=-1.0)
        assert str(info.value) == f"checked_scale: argument 'parameters' {message}"
        assert crossloss.get("checked_scale", a=2.0).params["a"] == 2.0
    finally:
        crossloss.unregister("checked_scale")


@pytest.mark.skipif("torch" not in BACKENDS, reason="needs torch")
def test_a_torch_module_refuses_a_parameter_that_nn_module_uses_itself():
    """eval() set a parameter named training to False, and the loss changed with it."""
    from crossloss import torch as torch_modules
    crossloss.register(LossSpec("trained_scale", lambda c, y_true, y_pred: c.ops.square(y_pred - y_true),
                                formula="e^2", none_shape="y_pred's shape",
                                params=(Param("training", True, "a flag"),)))
    try:
        with pytest.raises(LossValueError, match="trained_scale: argument 'training' expected a parameter name that "
                                                 "torch.nn.Module does not use itself"):
            torch_modules.get("trained_scale")
        assert crossloss.get("trained_scale", backend="torch").params["training"] is True
    finally:
        crossloss.unregister("trained_scale")


def test_the_decorator_takes_the_specs_other_fields_by_name():
    """check_params (and values_per_entry, ...) were LossSpec's alone (a helper's audit)."""
    def positive(params):
        if params["a"] <= 0:
            raise ValueError("a > 0")

    @crossloss.loss("decorated_scale", formula="a e^2", params=(Param("a", 1.0, "scale"),), check_params=positive)
    def decorated_scale(c, y_true, y_pred):
        return c.a * c.ops.square(y_pred - y_true)
    try:
        with pytest.raises(LossValueError, match="decorated_scale: argument 'parameters' expected a > 0; got a=-1"):
            crossloss.get("decorated_scale", a=-1)
        with pytest.raises(LossTypeError, match="argument 'check_param' expected a field of LossSpec .*; got the "
                                                "keyword 'check_param'; did you mean 'check_params'"):
            crossloss.loss("misspelt", formula="e", check_param=positive)
    finally:
        crossloss.unregister("decorated_scale")
