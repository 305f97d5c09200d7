"""crossloss.keras in real Keras 3 training, once per Keras backend, each in its own process
(Keras fixes its backend at import)."""
import json
import math
import os
import pathlib
import subprocess
import sys

import pytest

from conftest import BACKENDS

SCRIPT = pathlib.Path(__file__).with_name("scripts") / "keras_checks.py"
KERAS_BACKENDS = [b for b in ("tensorflow", "torch") if b in BACKENDS and "tensorflow" in BACKENDS]


def keras_env(backend):
    return {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.fixture(scope="module", params=KERAS_BACKENDS)
def run(request, tmp_path_factory):
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path_factory.mktemp("keras"))],
                          capture_output=True, text=True, env=keras_env(request.param), timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("JSON"))
    return json.loads(line[4:])


def result(run, key):
    """What the script's check ``key`` returned; it fails here, with the error, where the check raised."""
    value = run[key]
    assert not (isinstance(value, dict) and "error" in value), value["error"]
    return value


def mismatches(pairs, rel):
    return {case: pair for case, pair in pairs.items() if pair[0] != pytest.approx(pair[1], rel=rel)}


def test_compile_fit_evaluate_predict(run):
    assert len(run["fit"]) == 2 and all(math.isfinite(v) for v in run["fit"])
    assert run["fit"][1] < run["fit"][0]  # it trains
    assert run["predict_shape"] == [3, 8, 8, 3]


def test_saved_models_load_in_the_saving_process_and_evaluate_the_same(run):
    assert run["evaluate_loaded"] == run["evaluate"]
    assert run["huber_delta_loaded"] == 2.0
    assert run["huber_evaluate"][0] == run["huber_evaluate"][1]


LOAD = """
import sys
import numpy as np
import keras
{imports}
model = keras.models.load_model(sys.argv[1])
data = np.load(sys.argv[2])
print("LOADED", model.loss.get_config()["delta"], model.evaluate(data["x"], data["y"], verbose=0))
"""


def load_in_fresh_process(run, imports):
    path = run["huber_path"]
    return subprocess.run([sys.executable, "-c", LOAD.format(imports=imports), path,
                           os.path.join(os.path.dirname(path), "huber_data.npz")],
                          capture_output=True, text=True, env=keras_env(run["backend"]), timeout=300)


def test_a_saved_model_loads_in_a_fresh_process_that_imports_crossloss_keras(run):
    done = load_in_fresh_process(run, "import crossloss.keras")
    assert done.returncode == 0, done.stderr[-3000:]
    delta, evaluated = next(line for line in done.stdout.splitlines() if line.startswith("LOADED")).split()[1:]
    assert float(delta) == 2.0 and float(evaluated) == run["huber_evaluate"][0]


def test_without_importing_crossloss_keras_keras_cannot_find_the_class_as_the_docs_say(run):
    # Keras imports no module outside its own packages on load (serialization_lib._retrieve_class_or_fn)
    done = load_in_fresh_process(run, "")
    assert done.returncode != 0 and "Could not locate class 'Huber'" in done.stderr


def test_keras_sample_weight_and_crossloss_counts(run):
    assert run["scce_keras"] == pytest.approx(run["scce_crossloss"], rel=1e-6)
    assert run["scce_zero_count"] == 0.0  # as crossloss's own mean over a count of 0


def test_class_weight_in_fit_matches_the_keras_builtin(run):
    ours, builtin = run["class_weight_fit"]
    assert ours == pytest.approx(builtin, rel=1e-5)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_computes_the_loss_in_float32(run, policy):
    result = run["mixed"][policy]
    assert result["dtype"] == "float32" and result["output_dtype"] == policy.split("_")[1]
    assert all(math.isfinite(v) for v in result["loss"])
    assert result["value"] == result["widened"]  # (a half-precision computation rounds otherwise)


def test_keras_masks_apply_as_for_builtins(run):
    ours, builtin, unmasked = run["masked"]
    assert ours == pytest.approx(builtin, rel=1e-5)
    assert abs(ours - unmasked) > 1e-4  # the mask changed the value: it was applied


def test_masks_and_weighted_means_count_what_crossloss_counts(run):
    """With a mask, or "mean_with_sample_weight", ignored labels and class weights stay out of
    (and in) the count: ignore_index gives the built-in's ignore_class, class weights NumPy's."""
    counted = result(run, "counted_masked")
    assert len(counted) == 7 and not mismatches(counted, rel=1e-5)


def test_keras_mean_of_call_values_is_crosslosss_mean(run):
    """call() is Keras's hook for subclasses and wrappers: its values are scaled so that a plain
    mean of them leaves ignored labels out and divides by the class weights' sum."""
    found = result(run, "call_means")
    (ignored, ignored_direct), (weighted, weighted_direct) = found["{'ignore_index': 2}"], found[
        "{'class_weight': [1.0, 4.0, 0.5]}"]
    expected_ignored, expected_weighted = found["numpy"]
    assert ignored == pytest.approx(expected_ignored, rel=1e-5) and ignored_direct == pytest.approx(expected_ignored, rel=1e-5)
    assert weighted == pytest.approx(expected_weighted, rel=1e-5) and weighted_direct == pytest.approx(expected_weighted, rel=1e-5)


def test_per_sample_weights_on_a_per_element_loss_give_the_keras_builtins_number(run):
    # (B,) and (B, 1) weights against the Keras built-in; (B, C) weights against NumPy
    weighted = result(run, "weighted")
    assert len(weighted) == 5 * 2 * 3 and not mismatches(weighted, rel=1e-5)


def test_per_sample_weights_in_fit_train_as_with_the_keras_builtin(run):
    histories = result(run, "weighted_fit")
    assert len(histories) == 6
    for case, (ours, builtin) in histories.items():
        assert ours == pytest.approx(builtin, rel=1e-5), case


def test_dice_weighs_each_samples_dice_values_and_refuses_per_pixel_weights(run):
    weighted = result(run, "dice_weighted")
    refused = weighted.pop("per pixel")
    assert len(weighted) == 2 * 3 and not mismatches(weighted, rel=1e-5)
    assert refused.startswith("LossValueError: dice: argument 'sample_weight' expected")
    assert "(4, 3)" in refused and "got shape (4, 5, 5)" in refused
    fitted = result(run, "dice_fit")
    assert all(math.isfinite(v) for v in fitted["fit"])
    assert fitted["evaluate"][0] == pytest.approx(fitted["evaluate"][1], rel=1e-5)


def test_keras_masks_of_lower_rank_than_the_loss_apply_as_for_builtins(run):
    ours, builtin, unmasked = result(run, "masked_elementwise")
    assert ours == pytest.approx(builtin, rel=1e-5)
    assert abs(ours - unmasked) > 1e-4


def test_per_class_arrays_of_any_framework_round_trip_through_the_config_as_floats(run):
    trips = result(run, "config_round_trip")
    assert len(trips) == 8
    for case, trip in trips.items():
        assert trip["saved"] == trip["weights"] and all(type(w) is float for w in trip["saved"]), case
        assert trip["values"][1] == trip["values"][0], case


def test_the_config_carries_every_parameter_defaults_included(run):
    configs = result(run, "config_defaults")
    import crossloss
    for name, config in configs.items():
        defaults = crossloss.spec(name).defaults()
        assert {k: config[k] for k in defaults} == {k: v for k, v in defaults.items()}, name


def test_dice_refuses_a_keras_mask(run):
    """A timestep mask cannot weigh per-class values; with as many timesteps as classes it
    would have passed silently as class weights."""
    refused = result(run, "dice_mask_refused")
    assert refused.startswith("LossValueError: dice: argument 'mask' expected no Keras mask"), refused
    assert refused.endswith(("got a mask of shape (2, 3)", "got a mask of shape (None, 3)"))  # a graph's batch


def test_a_compat_profile_is_refused_by_name(run):
    refused = result(run, "compat_refused")
    assert refused.startswith("LossValueError: mean_squared_error: argument 'compat' expected no compat profile")
    assert refused.endswith("got 'keras'")


def test_a_model_with_a_users_loss_loaded_without_its_module_says_to_import_it(run):
    message = result(run, "users_loss_unregistered_on_load")
    assert message.startswith("UnknownLossError: crossloss.keras.get: argument 'name' expected a registered loss name; "
                              "got 'users_own_error'"), message
    assert message.endswith("a loss that your own module registers needs that module imported before "
                            "keras.models.load_model")


def test_an_unknown_reduction_is_a_crossloss_error(run):
    message = result(run, "bad_reduction")
    assert message.startswith("LossValueError: mean_squared_error: argument 'reduction' expected one of")
    assert "'sum_over_batch_size'" in message and message.endswith("got 'avg'")


def test_complex_inputs_are_refused_before_keras_casts_them_to_floats(run):
    """Keras's conversion to the loss's dtype drops an imaginary part: NumPy arrays, the Keras
    backend's tensors and lists of complex numbers gave a number (a helper's audit)."""
    assert result(run, "complex_refused") == ["LossTypeError: binary_crossentropy: argument 'y_pred' expected a real "
                                              "(float, integer or bool) tensor; got dtype complex64"] * 2 + [
        "LossTypeError: binary_crossentropy: argument 'y_pred' expected a real (float, integer or bool) tensor; "
        "got dtype complex128"]


def test_an_empty_batch_reduces_to_zero_and_an_unknown_name_names_the_function(run):
    """Keras returns a (0,) batch's values unreduced; crossloss's mean over nothing is 0."""
    assert result(run, "empty_batch") == {"sum_over_batch_size": 0.0, "sum": 0.0, "mean_with_sample_weight": 0.0,
                                          "none": []}
    assert run["unknown_name"].startswith("crossloss.keras.get: argument 'name' expected a registered loss name")
    assert "did you mean 'huber'" in run["unknown_name"]


def test_keras_arguments_meet_keras_conventions_or_named_refusals(run):
    """get() took its name= as the loss (a TypeError), Huber(2.0) read 2.0 as a reduction, an
    int dtype truncated the inputs (0.0 for 0.08), backend= was lost by the config, and a 0-d
    array delta was refused where Keras's Huber takes it."""
    assert run["keras_name"] == "seg_ce"
    assert result(run, "positional_refused") == ("LossTypeError: huber: argument 'delta' expected a keyword "
                                                 "(Huber(delta=...): crossloss.keras's classes take every parameter "
                                                 "by keyword); got the positional value 2.0")
    assert result(run, "int_dtype_refused").startswith("LossValueError: huber: argument 'dtype' expected a floating")
    assert result(run, "backend_refused").startswith("LossValueError: mean_squared_error: argument 'backend' "
                                                     "expected no backend in crossloss.keras")
    assert result(run, "dtype_typo_refused").startswith("LossValueError: huber: argument 'dtype' expected a floating "
                                                         "dtype or a Keras dtype policy")
    assert "(reduction, name, dtype, delta); got delt=2.0; did you mean 'delta'?" in result(run, "unknown_parameter")
    assert result(run, "array_delta") == pytest.approx(2.0 * (3.0 - 0.5 * 2.0))  # delta (|e| - delta / 2) at e = 3
