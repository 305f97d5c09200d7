"""The README's Python examples run as written, each in a fresh interpreter (one registers a loss)."""
import pathlib
import re
import subprocess
import sys

import numpy as np
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


def test_the_tour_prints_the_textbook_numbers():
    """The examples were checked for running and printing, not for what they print: the tour's
    weighted Huber and unreduced BCE, written out by hand."""
    code = next(b for b in BLOCKS if 'crossloss.get("huber", delta=2.0)' in b)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    huber, *bce = done.stdout.strip().splitlines()[-3:]
    y_true, y_pred = np.array([[0.0, 1.0], [1.0, 1.0]]), np.array([[0.2, 0.7], [0.9, 0.4]])
    # every |error| <= delta = 2: 0.5 e^2, weighted per sample, summed and divided by the 4 entries
    expected = np.sum(0.5 * (y_pred - y_true) ** 2 * np.array([[1.0], [0.5]])) / 4
    assert float(huber) == pytest.approx(expected, rel=1e-12)
    printed = [float(v) for v in re.findall(r"[-+]?\d*\.\d+(?:e[-+]?\d+)?", " ".join(bce))]
    textbook = -(y_true * np.log(y_pred) + (1 - y_true) * np.log(1 - y_pred))
    np.testing.assert_allclose(printed, textbook.ravel(), rtol=1e-7)  # (NumPy prints 8 digits)


def test_the_custom_loss_example_passes_the_harness():
    code = next(b for b in BLOCKS if "crossloss.loss(" in b)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "True" in done.stdout.splitlines()[1]  # report.passed


def _table(marker: str) -> list[list[str]]:
    """The cells of the README's table between <!-- marker --> and <!-- /marker -->."""
    body = README.read_text().split(f"<!-- {marker} -->\n")[1].split(f"\n<!-- /{marker} -->")[0]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in body.splitlines()]


def _benchmark_module(name: str):
    import importlib.util
    path = README.parent / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_speed_table_has_one_row_per_benchmark_case():
    """The tables are updated by splicing between markers; an update that put one table's
    rows into another (the parity rows once replaced the speed rows) fails here."""
    table, speed = _benchmark_module("table"), _benchmark_module("speed")
    rows = _table("speed-table")
    assert rows[0] == [cell.strip() for cell in table.speed_table([]).splitlines()[0].strip("|").split("|")]
    assert [tuple(r[:2]) for r in rows[2:]] == [(loss, variant) for loss, variant, _, _ in speed.CASES]
    assert all(re.fullmatch(r"(\d+\.\d\d\*?)?", cell) for r in rows[2:] for cell in r[2:])


def test_memory_table_rows_are_ratios():
    rows = _table("memory-table")
    assert rows[0] == ["loss", "variant", "backend", "method", "forward", "forward + backward"]
    assert len(rows) > 2 and all(re.fullmatch(r"\d+\.\d\d", r[4]) for r in rows[2:])


def test_memory_benchmark_writes_its_results(tmp_path):
    """It once printed its table and then failed in speed.environment (an argument that only
    speed.py's parser had), so `make bench` exited 1 and wrote no memory.json."""
    import json
    import subprocess
    import sys
    out = tmp_path / "memory.json"
    run = subprocess.run([sys.executable, str(README.parent / "benchmarks" / "memory.py"), "--backends", "numpy",
                          "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    written = json.loads(out.read_text())
    assert written["environment"]["value_checks"] == "auto" and written["results"]


def test_calls_benchmark_compares_equal_numbers(tmp_path):
    """calls.py times weighted calls against the framework's own weighted mean: both sides
    must compute the same number, or the ratio compares different work."""
    import json
    import subprocess
    import sys
    out = tmp_path / "calls.json"
    run = subprocess.run([sys.executable, str(README.parent / "benchmarks" / "calls.py"), "--backends", "numpy",
                          "--sizes", "1e3", "--budget", "0.01", "--out", str(out)], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    rows = json.loads(out.read_text())["results"]
    assert len(rows) == 6 and all(row["agree"] for row in rows), rows


def test_parity_table_has_one_row_per_loss():
    import crossloss
    rows = _table("parity-table")
    assert rows[0][0] == "loss" and all(re.fullmatch(r"(numpy|torch|tensorflow)\S* \w+", c) for c in rows[0][1:])
    assert [r[0] for r in rows[2:]] == crossloss.list_losses()
    assert all(re.fullmatch(r"ok \d+\.\d\d( \(\d+ accepted\))?|-", cell) for r in rows[2:] for cell in r[1:])
