"""The README's Python examples run as written, each in a fresh interpreter (one registers a loss)."""
import pathlib
import re
import subprocess
import sys

import pytest

from conftest import BACKENDS

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index):
    code = BLOCKS[index]
    needed = {m for m in ("torch", "tensorflow") if re.search(rf"^import {m}", code, flags=re.M)}
    assert needed <= set(BACKENDS), f"example {index} needs {needed}"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip()  # every example prints what it shows


def test_the_custom_loss_example_passes_the_harness():
    code = next(b for b in BLOCKS if "crossloss.loss(" in b)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "True" in done.stdout.splitlines()[1]  # report.passed
