"""The parity report's formats and exit status, on a passing loss and a deliberately wrong one."""
import json
import os
import re
import subprocess
import sys
from xml.etree import ElementTree

import pytest

import crossloss
from crossloss.conformance import harness, report
from crossloss.conformance.__main__ import main
from crossloss.spec import LossSpec, Terms


def squared_error(y_true, y_pred):
    return (y_pred - y_true) ** 2


@pytest.fixture(scope="module")
def wrong_results():
    spec = crossloss.register(LossSpec("off_by_a_bit", lambda c, t, p: Terms(c.ops.square(p - t) * 1.001),
                                       formula="1.001 e^2", none_shape="y_pred's shape", reference=squared_error))
    try:
        yield harness.run(["off_by_a_bit", "mse"], ["numpy"], ["float64"], reductions=("mean",), edges=False)
    finally:
        crossloss.unregister(spec.name)


def test_junit_has_a_case_per_loss_backend_dtype_check_and_failures_with_inputs(wrong_results):
    root = ElementTree.fromstring(report.junit(wrong_results))
    cases = root.findall(".//testcase")
    names = {(c.get("classname"), c.get("name")) for c in cases}
    assert ("crossloss.off_by_a_bit", "numpy float64 value") in names
    assert ("crossloss.mean_squared_error", "numpy float64 value") in names
    failures = root.findall(".//failure")
    assert len(failures) == 1 and "reference" in failures[0].text
    assert root.get("failures") == "1" and int(root.get("tests")) == len(cases)


def test_markdown_and_html_show_the_verdict_table_and_failures(wrong_results):
    md = report.markdown(wrong_results, ["numpy"])
    assert "failed" in md.splitlines()[0] and "| off_by_a_bit | FAIL" in md and "### Failures" in md
    page = report.html_page(wrong_results, ["numpy"])
    assert page.startswith("<!doctype html>") and "#d73027" in page and "off_by_a_bit" in page
    assert "<script" not in page and "http" not in page  # self-contained
    # a cell's tooltip in words (it was the row's dict repr: "{'checks': 165, ...}")
    assert re.search(r"title='\d+ checks, \d+ failed, \d+ reviewed divergences; worst error", page)
    assert "{&#x27;" not in page


def test_json_follows_its_schema(wrong_results):
    data = json.loads(report.as_json(wrong_results, ["numpy"]))
    assert set(data) == {"environment", "backends", "tolerances", "summary", "failures", "passed"}
    assert data["passed"] is False and data["failures"][0]["loss"] == "off_by_a_bit"
    assert {"loss", "backend", "dtype", "checks", "failed", "accepted", "worst"} <= set(data["summary"][0])
    assert "numpy" in data["environment"]["versions"]


def test_json_is_strict_and_its_worst_counts_the_failures(wrong_results):
    """A NaN result or a shape mismatch has an infinite error: strict JSON has no Infinity, so
    it is null; a row's ``worst`` is over its failures too (a dashboard reads it)."""
    broken = harness.Result("mse", "a NaN", "numpy", "float32", "mean", "value", False, float("inf"), "NaN where ...")
    text = report.as_json([*wrong_results, broken], ["numpy"])

    def refuse(constant):
        raise AssertionError(f"not strict JSON: {constant}")
    data = json.loads(text, parse_constant=refuse)
    rows = {(r["loss"], r["dtype"]): r for r in data["summary"]}
    assert rows[("off_by_a_bit", "float64")]["failed"] and rows[("off_by_a_bit", "float64")]["worst"] > 1
    assert rows[("mse", "float32")]["worst"] is None and data["failures"][-1]["error"] is None


def test_cli_writes_where_output_says_or_refuses_before_any_work(tmp_path, capsys):
    folder = tmp_path / "ci.reports"  # an existing folder whose name has a dot: the file goes in it
    folder.mkdir()
    assert main(["--losses", "mse", "--backends", "numpy", "--quick", "--format", "junit", "--output", str(folder)]) == 0
    assert ElementTree.parse(folder / "parity.xml").getroot().get("failures") == "0"
    assert main(["--losses", "mse", "--backends", "numpy", "--quick", "--output", str(tmp_path / "t.txt")]) == 0
    assert "mean_squared_error" in (tmp_path / "t.txt").read_text()  # the one format, text, to the file named
    (tmp_path / "afile").write_text("")
    with pytest.raises(SystemExit) as stop:  # a usage error: argparse exits with 2, before any check
        main(["--losses", "mse", "--backends", "numpy", "--quick", "--format", "text,json", "--output",
              str(tmp_path / "afile")])
    assert stop.value.code == 2
    assert "--output: expected a file to write" in capsys.readouterr().err


def test_cli_runs_a_loss_named_twice_once(capsys):
    main(["--losses", "mse", "--backends", "numpy", "--dtypes", "float64", "--quick"])
    once = capsys.readouterr().out
    main(["--losses", "mse,mean_squared_error,MSE", "--backends", "numpy,np", "--dtypes", "float64", "--quick"])
    assert capsys.readouterr().out.splitlines()[:-1] == once.splitlines()[:-1]  # (the last line: the time)


def test_cli_exit_status_and_files(tmp_path, capsys):
    assert main(["--losses", "mse,huber", "--backends", "numpy", "--quick"]) == 0
    assert "0 failed" in capsys.readouterr().out
    spec = crossloss.register(LossSpec("off_again", lambda c, t, p: Terms(c.ops.square(p - t) + 1e-3),
                                       formula="e^2 + 0.001", none_shape="y_pred's shape", reference=squared_error))
    try:
        code = main(["--losses", "off_again", "--backends", "numpy", "--quick", "--format", "junit,html",
                     "--output", str(tmp_path)])
    finally:
        crossloss.unregister(spec.name)
    assert code == 1
    assert (tmp_path / "parity.xml").exists() and (tmp_path / "parity.html").exists()


LOSSES = ", ".join(crossloss.list_losses())


@pytest.mark.parametrize("args, expected, got", [
    (["--losses", "mse,dise"], f"--losses: expected one or more of {LOSSES}", "got 'dise'; did you mean 'dice'?"),
    (["--losses", "huber", "--backends", "numpy,jax"], "--backends: expected one or more of numpy, torch, tensorflow",
     "got 'jax'"),
    (["--dtypes", "float8", "--quick"], "--dtypes: expected one or more of float64, float32, float16", "got 'float8'"),
    (["--backends", "numpy", "--dtypes", "bfloat16"], "--dtypes: expected one or more of float64, float32, float16 "
     "(run by numpy)", "got 'bfloat16'"),
    (["--dtypes", ","], "--dtypes: expected one or more of", "got none"),
    (["--losses", "mse", "--backends", "numpy", "--quick", "--format", "pdf"],
     "--format: expected one or more of text, json, markdown, junit, html", "got 'pdf'"),
    (["--import", "no_such_module_of_losses", "--quick"], "--import: expected importable modules",
     "got 'no_such_module_of_losses': No module named"),
])
def test_cli_refuses_a_bad_selection_with_a_usage_error(args, expected, got):
    done = subprocess.run([sys.executable, "-m", "crossloss.conformance", *args], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith(f"crossloss-parity: error: {expected}") and f"; {got}" in message, message


def test_cli_takes_aliases_of_losses_and_backends(capsys):
    assert main(["--losses", "Huber,kld", "--backends", "np", "--dtypes", "float64", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "huber" in out and "kl_divergence" in out and "backends: numpy" in out


def test_cli_checks_the_losses_a_module_it_imports_registers(tmp_path):
    """A team's own losses: --import loads the module that registers them, and a wrong one fails."""
    (tmp_path / "team_losses.py").write_text(
        "import numpy as np\nimport crossloss\n\n"
        "@crossloss.loss('team_error', formula='e^2', reference=lambda t, p: (p - t) ** 2)\n"
        "def team_error(c, y_true, y_pred):\n    return c.ops.square(y_pred - y_true)\n\n"
        "@crossloss.loss('team_wrong', formula='e^2', reference=lambda t, p: (p - t) ** 2)\n"
        "def team_wrong(c, y_true, y_pred):\n    return c.ops.square(y_pred - y_true) * 1.001\n")
    run = lambda losses: subprocess.run(
        [sys.executable, "-m", "crossloss.conformance", "--import", "team_losses", "--losses", losses,
         "--backends", "numpy", "--quick"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    right, wrong = run("team_error"), run("team_wrong")
    assert right.returncode == 0 and "team_error" in right.stdout and " 0 failed" in right.stdout, right.stderr[-2000:]
    assert wrong.returncode == 1 and "team_wrong" in wrong.stdout


def _failure(backend="numpy", case="mse() random", detail="got 2.0, reference 1.0"):
    return harness.Result("mean_squared_error", case, backend, "float64", "mean", "value", False, 2.0, detail)


def test_junit_and_html_stay_well_formed_whatever_a_message_holds():
    """An ANSI colour code in an exception's message made parity.xml unreadable to CI; XML
    1.0 forbids C0 controls but tab, LF and CR, lone surrogates, U+FFFE and U+FFFF."""
    nasty = "\x1b[31mshape\x1b[0m \x00\x08\x0b\ud800\ufffe\uffff\tend"
    failed = [_failure(case=f"mse(tag={nasty}) random", detail=f"ValueError: {nasty}")]
    root = ElementTree.fromstring(report.junit(failed).encode("utf-8"))
    escaped = "ValueError: \\x1b[31mshape\\x1b[0m \\x00\\x08\\x0b\\ud800\\ufffe\\uffff\tend"
    assert escaped in root.find(".//failure").text
    for render in (report.html_page, report.markdown, report.text):
        page = render(failed, ["numpy"])
        page.encode("utf-8")  # no lone surrogate
        assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f]", page) and "x1b" in page and "31mshape" in page


def test_cut_failure_lists_say_how_many_they_leave_out_and_show_every_backend():
    """Markdown kept the first 100 failures and HTML 500, silently: a torch-only bug late in
    the order was in neither. Each keeps the first few of every (loss, backend)."""
    backends = ["numpy", "tensorflow", "torch"]
    failed = [_failure(b, f"case {i}") for b in backends for i in range(200)]
    md = report.markdown(failed, backends)
    bullets = [line for line in md.splitlines() if line.startswith("- `")]
    assert len(bullets) == 100 and {line.split()[2] for line in bullets} == set(backends)
    assert "... and 500 more; the JSON report has every failure" in md
    page = report.html_page(failed, backends)
    assert page.count("<li><code>") == 500 and "... and 100 more; the JSON report has every failure" in page
    assert all(page.count(f"</code> {b} ") >= 166 for b in backends)
    text = report.text(failed, backends)
    assert {line.split()[2] for line in text.splitlines() if line.startswith("FAIL ")} == {f"[{b}" for b in backends}
    assert text.endswith("... and 550 more; the JSON report has every failure")


def test_markdown_escapes_parameter_values_and_messages():
    """A parameter's markup rendered in a job summary (HTML and JUnit escaped it)."""
    md = report.markdown([_failure(case="markup(tag=<img src=x> **a|b** `c`) random", detail="got <b>_x_</b> | ~y~")],
                         ["numpy"])
    (line,) = [line for line in md.splitlines() if line.startswith("- `")]
    assert "tag=\\<img src=x\\> \\*\\*a\\|b\\*\\* \\`c\\`) random: got \\<b\\>\\_x\\_\\</b\\> \\| \\~y\\~" in line, line


def test_cli_several_formats_go_to_reports_and_the_table_to_standard_output(tmp_path, monkeypatch, capsys):
    """--format text,json printed the JSON after the table; two formats are several."""
    monkeypatch.chdir(tmp_path)
    assert main(["--losses", "mse", "--backends", "numpy", "--quick", "--format", "text,json"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("loss ") and "{" not in out and "mean_squared_error" in out
    assert json.loads((tmp_path / "reports" / "parity.json").read_text())["passed"] is True


def test_cli_output_of_one_format_is_the_file_named_or_standard_output(tmp_path, monkeypatch, capsys):
    """A path without an extension became a folder holding parity.xml; '-' a folder named '-'."""
    monkeypatch.chdir(tmp_path)
    quick = ["--losses", "mse", "--backends", "numpy", "--quick", "--format", "junit", "--output"]
    assert main([*quick, "junit-report"]) == 0
    assert ElementTree.parse(tmp_path / "junit-report").getroot().get("failures") == "0"
    capsys.readouterr()
    assert main([*quick, "-"]) == 0
    assert ElementTree.fromstring(capsys.readouterr().out).get("failures") == "0" and not (tmp_path / "-").exists()


def test_cli_refuses_an_existing_unwritable_output_file_before_the_run(tmp_path, capsys):
    """It was found only after the run, whose results were lost."""
    locked = tmp_path / "locked.json"
    locked.write_text("old")

    def lock(on):  # root writes a read-only file: only an immutable one is refused
        if os.geteuid() != 0:
            return locked.chmod(0o444 if on else 0o644)
        return subprocess.run(["chattr", "+i" if on else "-i", str(locked)], capture_output=True).returncode == 0
    if lock(True) is False:
        pytest.skip("chattr +i is not permitted here")
    try:
        with pytest.raises(SystemExit) as stop:
            main(["--losses", "mse", "--backends", "numpy", "--quick", "--format", "json", "--output", str(locked)])
        assert stop.value.code == 2 and f"{locked} exists and is not writable" in capsys.readouterr().err
    finally:
        lock(False)
    assert locked.read_text() == "old"


def test_cli_refuses_a_raising_import_or_a_loss_without_reference_before_any_check(tmp_path, monkeypatch, capsys):
    """Both ended in a traceback with exit status 1, the status of a disagreement."""
    (tmp_path / "raising_losses.py").write_text("raise RuntimeError('broken\\n  module')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SystemExit) as stop:
        main(["--import", "raising_losses", "--quick"])
    assert stop.value.code == 2 and capsys.readouterr().err.splitlines()[-1] == (
        "crossloss-parity: error: --import: expected importable modules (that register losses); got "
        "'raising_losses': RuntimeError: broken module")
    spec = crossloss.register(LossSpec("no_reference", lambda c, t, p: Terms(c.ops.square(p - t)), formula="e^2",
                                       none_shape="y_pred's shape"))
    try:
        for selection in (["--losses", "mse,no_reference"], []):  # the default selection: every loss
            with pytest.raises(SystemExit) as stop:
                main([*selection, "--backends", "numpy", "--quick"])
            assert stop.value.code == 2
            assert capsys.readouterr().err.splitlines()[-1].startswith(
                "crossloss-parity: error: --losses: loss 'no_reference' expected an independent float64 NumPy")
    finally:
        crossloss.unregister(spec.name)


@pytest.mark.skipif("torch" not in crossloss.available_backends(), reason="torch is not installed")
def test_cli_dtypes_select_every_kind_of_check(tmp_path, capsys):
    """--dtypes float16 ran float64 gradient and compat checks and float32 traces too; the
    rule (each kind at its own dtypes, where selected) is in --help."""
    assert main(["--losses", "mse", "--backends", "torch", "--dtypes", "float16", "--format", "json", "--output",
                 str(tmp_path / "p.json")]) == 0
    assert {row["dtype"] for row in json.loads((tmp_path / "p.json").read_text())["summary"]} == {"float16"}
    with pytest.raises(SystemExit):
        main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "gradient checks run if float64 is selected, trace checks if float32 is" in help_text
