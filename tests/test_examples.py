"""The examples run as written (tiny synthetic data), each in its own process."""
import os
import pathlib
import re
import subprocess
import sys

import pytest

from conftest import BACKENDS

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"
pytestmark = pytest.mark.skipif(not {"torch", "tensorflow"} <= set(BACKENDS), reason="the examples use both")


def run(name, *args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, str(EXAMPLES / name), *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_keras_segmentation_with_dice():
    assert "dice loss per epoch" in run("keras_segmentation.py")


def test_torch_training_loop():
    assert "loss per epoch" in run("torch_training.py")


def test_ddp():
    steps = re.findall(r"global mean loss ([0-9.]+)", run("ddp.py"))
    assert len(steps) == 5 and float(steps[-1]) < float(steps[0])


def test_same_model_in_keras_and_torch_gives_the_same_curve(tmp_path):
    out = run("same_model_two_frameworks.py", tmp_path / "curves.png")
    gap = float(re.search(r"largest gap between the curves: ([0-9.e+-]+)", out).group(1))
    assert gap < 1e-5
    assert (tmp_path / "curves.png").stat().st_size > 10_000
