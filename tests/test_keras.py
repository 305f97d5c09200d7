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


@pytest.fixture(scope="module", params=KERAS_BACKENDS)
def run(request, tmp_path_factory):
    env = {**os.environ, "KERAS_BACKEND": request.param, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path_factory.mktemp("keras"))],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("JSON"))
    return json.loads(line[4:])


def test_compile_fit_evaluate_predict(run):
    assert len(run["fit"]) == 2 and all(math.isfinite(v) for v in run["fit"])
    assert run["fit"][1] < run["fit"][0]  # it trains
    assert run["predict_shape"] == [3, 8, 8, 3]


def test_saved_models_load_without_custom_objects_and_evaluate_the_same(run):
    assert run["evaluate_loaded"] == run["evaluate"]
    assert run["huber_delta_loaded"] == 2.0
    assert run["huber_evaluate"][0] == run["huber_evaluate"][1]


def test_keras_sample_weight_and_crossloss_counts(run):
    assert run["scce_keras"] == pytest.approx(run["scce_crossloss"], rel=1e-6)


def test_class_weight_in_fit_matches_the_keras_builtin(run):
    ours, builtin = run["class_weight_fit"]
    assert ours == pytest.approx(builtin, rel=1e-5)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_computes_the_loss_in_float32(run, policy):
    result = run["mixed"][policy]
    assert result["dtype"] == "float32" and result["output_dtype"] == policy.split("_")[1]
    assert all(math.isfinite(v) for v in result["loss"])


def test_keras_masks_apply_as_for_builtins(run):
    ours, builtin, unmasked = run["masked"]
    assert ours == pytest.approx(builtin, rel=1e-5)
    assert abs(ours - unmasked) > 1e-4  # the mask changed the value: it was applied
