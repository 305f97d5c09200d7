"""The README's Python examples run as written."""
import pathlib
import re

import pytest

from conftest import BACKENDS

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, capsys):
    code = BLOCKS[index]
    needed = {m for m in ("torch", "tensorflow") if re.search(rf"^import {m}", code, flags=re.M)}
    assert needed <= set(BACKENDS), f"example {index} needs {needed}"
    exec(compile(code, f"README.md example {index}", "exec"), {})
    assert capsys.readouterr().out.strip()  # every example prints what it shows
