"""Rendering results: a terminal table, JSON, Markdown, JUnit XML and an HTML page."""
from __future__ import annotations

import html
import json
import math
import platform
import re
import sys
from collections import Counter, defaultdict
from xml.etree import ElementTree

from .harness import TOLERANCES, Result, summarise


# What XML 1.0 forbids (C0 controls but tab, LF and CR; lone surrogates; U+FFFE, U+FFFF)
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>|~&#!])")
MORE = "... and {} more; the JSON report has every failure"


def printable(text) -> str:
    """``text`` with what XML 1.0 forbids written as a Python escape ("\\x1b"): a message
    holding an ANSI colour code must not break a JUnit file, nor HTML."""
    return _FORBIDDEN.sub(lambda m: ascii(m.group())[1:-1], str(text))


def _md(text) -> str:
    """``text`` as literal Markdown on one line: its markup characters backslash-escaped."""
    return _MARKDOWN.sub(r"\\\1", " ".join(printable(text).splitlines()))


def listed(failed: list[Result], limit: int) -> tuple[list[Result], int]:
    """At most ``limit`` failures, spread over losses and backends (the first of each (loss,
    backend), then the second of each, ...), in report order; and how many were left out."""
    rank, seen = [], Counter()
    for i, r in enumerate(failed):
        rank.append((seen[(r.loss, r.backend)], i))
        seen[(r.loss, r.backend)] += 1
    kept = sorted(i for _, i in sorted(rank)[:limit])
    return [failed[i] for i in kept], len(failed) - len(kept)


def environment() -> dict:
    """Versions and devices of what ran, for reports."""
    import importlib.metadata as md
    versions = {"python": platform.python_version()}
    for package in ("numpy", "torch", "tensorflow", "tensorflow-cpu", "keras", "crossloss"):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            pass
    devices = ["cpu"]
    if "torch" in sys.modules and sys.modules["torch"].cuda.is_available():
        devices.append("cuda")
    return {"versions": versions, "platform": platform.platform(), "devices": devices}


def text(results: list[Result], backends: list[str]) -> str:
    """One row per loss and dtype, one column per backend: 'ok 0.03 (120)' is the worst error
    as a fraction of the tolerance (and the count of checks); 'FAIL 3/120' counts failed checks."""
    table = summarise(results)
    losses = sorted({k[0] for k in table})
    dtypes = [d for d in TOLERANCES if any(k[2] == d for k in table)]
    width = max(len(name) for name in losses) + 2
    header = f"{'loss':<{width}}{'dtype':<10}" + "".join(f"{b:>16}" for b in backends)
    lines = [header, "-" * len(header)]
    for loss in losses:
        for dtype in dtypes:
            cells = []
            for backend in backends:
                row = table.get((loss, backend, dtype))
                if row is None:
                    cells.append(f"{'-':>16}")
                elif row["failed"]:
                    cells.append(f"{'FAIL ' + str(row['failed']) + '/' + str(row['checks']):>16}")
                else:
                    cells.append(f"{'ok ' + format(row['worst'], '.2f') + ' (' + str(row['checks']) + ')':>16}")
            lines.append(f"{loss:<{width}}{dtype:<10}" + "".join(cells))
    failed = [r for r in results if not r.passed]
    accepted = [r for r in results if r.accepted]
    lines.append("")
    lines.append(f"{len(results) - len(failed)} passed, {len(failed)} failed "
                 f"(error = worst |out - ref| / (atol + rtol |ref|); 1.00 is the tolerance)")
    if accepted:
        lines.append(f"{len(accepted)} of the passes are reviewed divergences (conformance/divergences.json):")
        for reason, count in _accepted_reasons(accepted).items():
            lines.append(f"  {count} x {reason}")
    shown, more = listed(failed, 50)
    lines += [printable(f"FAIL {r.loss} [{r.backend} {r.dtype} {r.reduction} {r.check}] {r.case}: {r.detail}")
              for r in shown]
    if more:
        lines.append(MORE.format(more))
    return "\n".join(lines)


def as_json(results: list[Result], backends: list[str]) -> str:
    """Schema: {"environment", "backends": [run labels], "tolerances": {dtype: [rtol, atol]},
    "summary": [{loss, backend, dtype, checks, failed, accepted, worst}], "failures": [Result
    fields], "passed": bool}.
    ``worst`` is over every check but the reviewed divergences, failures included; an error
    that is NaN or infinite (a NaN result, a shape mismatch) is null: strict JSON has neither."""
    summary = [{"loss": k[0], "backend": k[1], "dtype": k[2], **v, "worst": v["worst_any"]}
               for k, v in sorted(summarise(results).items())]
    for row in summary:
        del row["worst_any"]
    failures = [vars(r) for r in results if not r.passed]
    return json.dumps(_strict({"environment": environment(), "backends": backends,
                               "tolerances": {k: list(v) for k, v in TOLERANCES.items()},
                               "summary": summary, "failures": failures, "passed": not failures}),
                      indent=1, default=str, allow_nan=False)


def _strict(value):
    """``value`` with every NaN or infinite float replaced by None (JSON's null)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def _accepted_reasons(accepted: list[Result]) -> dict:
    """One line per reviewed divergence: its backend, check, losses and reason -> check count."""
    groups: dict = defaultdict(lambda: [0, set()])
    for r in accepted:
        group = groups[(r.backend, r.check, r.accepted)]
        group[0] += 1
        group[1].add(r.loss)
    return {f"[{backend}: {check}] ({', '.join(sorted(losses))}): {reason}": count
            for (backend, check, reason), (count, losses) in groups.items()}


def _cell(row) -> str:
    if row is None:
        return "-"
    if row["failed"]:
        return f"FAIL {row['failed']}/{row['checks']}"
    return f"ok {row['worst']:.2f}" + (f" ({row['accepted']} accepted)" if row["accepted"] else "")


def _tip(row) -> str:
    """A heat-map cell's tooltip, in words."""
    if row is None:
        return "not run"
    worst = "unknown (NaN or inf)" if row["worst"] is None or not math.isfinite(row["worst"]) else f"{row['worst']:.3g}"
    return (f"{row['checks']} checks, {row['failed']} failed, {row['accepted']} reviewed divergences; "
            f"worst error of the passes {worst} x the tolerance")


def markdown(results: list[Result], backends: list[str]) -> str:
    """A summary that fits a CI job summary: a table per dtype column, then failures."""
    table = summarise(results)
    losses = sorted({k[0] for k in table})
    columns = [(b, d) for b in backends for d in TOLERANCES if any(k[1:] == (b, d) for k in table)]
    failed = [r for r in results if not r.passed]
    verdict = "passed" if not failed else f"**{len(failed)} failed**"
    lines = [f"## crossloss parity report: {verdict}", "",
             f"{len(results)} checks. Cells: worst error as a fraction of the tolerance (1.00 = at the tolerance).", "",
             "| loss | " + " | ".join(f"{b} {d}" for b, d in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for loss in losses:
        lines.append(f"| {loss} | " + " | ".join(_cell(table.get((loss, b, d))) for b, d in columns) + " |")
    if failed:
        shown, more = listed(failed, 100)
        lines += ["", "### Failures", ""]
        lines += [f"- `{r.loss}` {_md(r.backend)} {r.dtype} {_md(r.reduction)} *{_md(r.check)}* {_md(r.case)}: "
                  f"{_md(r.detail)}" for r in shown]
        lines += ["", MORE.format(more)] if more else []
    accepted = [r for r in results if r.accepted]
    if accepted:
        lines += ["", "### Reviewed divergences", ""]
        lines += [f"- {count} x {_md(reason)}" for reason, count in _accepted_reasons(accepted).items()]
    env = environment()
    lines += ["", "Environment: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()) + f"; devices: {', '.join(env['devices'])}"]
    return "\n".join(lines) + "\n"


def junit(results: list[Result]) -> str:
    """JUnit XML: a suite per loss, a test case per loss x backend x dtype x check; a case
    fails with the list of its failing inputs, so CI systems show failures natively."""
    groups: dict = defaultdict(list)
    for r in results:
        groups[(r.loss, r.backend, r.dtype, r.check)].append(r)
    root = ElementTree.Element("testsuites", name="crossloss parity")
    suites: dict = {}
    for (loss, backend, dtype, check), members in sorted(groups.items()):
        suite = suites.get(loss)
        if suite is None:
            suite = suites[loss] = ElementTree.SubElement(root, "testsuite", name=loss, tests="0", failures="0")
        case = ElementTree.SubElement(suite, "testcase", classname=f"crossloss.{loss}", name=f"{backend} {dtype} {check}")
        suite.set("tests", str(int(suite.get("tests")) + 1))
        bad = [r for r in members if not r.passed]
        if bad:
            suite.set("failures", str(int(suite.get("failures")) + 1))
            failure = ElementTree.SubElement(case, "failure", message=f"{len(bad)} of {len(members)} inputs disagree")
            failure.text = printable("\n".join(f"{r.case} [{r.reduction}]: {r.detail}" for r in bad))
        notes = sorted({r.accepted for r in members if r.accepted})
        if notes:
            ElementTree.SubElement(case, "system-out").text = printable("accepted divergence: " + "; ".join(notes))
    root.set("tests", str(sum(int(s.get("tests")) for s in suites.values())))
    root.set("failures", str(sum(int(s.get("failures")) for s in suites.values())))
    return ElementTree.tostring(root, encoding="unicode", xml_declaration=True)


def _colour(row) -> str:
    if row is None:
        return "#eee"
    if row["failed"]:
        return "#d73027"
    level = min(row["worst"], 1.0)  # green (0) to amber (1, at the tolerance)
    return f"hsl({int(120 - 80 * level)}, 65%, {int(80 - 20 * level)}%)"


def html_page(results: list[Result], backends: list[str]) -> str:
    """One self-contained page: a heat-map of the worst error per loss x backend x dtype,
    the failing cases, the accepted divergences and the environment."""
    table = summarise(results)
    losses = sorted({k[0] for k in table})
    columns = [(b, d) for b in backends for d in TOLERANCES if any(k[1:] == (b, d) for k in table)]
    failed = [r for r in results if not r.passed]
    shown, more = listed(failed, 500)

    def esc(text) -> str:
        return html.escape(printable(text))

    head = "".join(f"<th>{esc(b)}<br>{esc(d)}</th>" for b, d in columns)
    rows = []
    for loss in losses:
        cells = "".join(f"<td style='background:{_colour(table.get((loss, b, d)))}' title='{esc(_tip(table.get((loss, b, d))))}'>"
                        f"{esc(_cell(table.get((loss, b, d))))}</td>" for b, d in columns)
        rows.append(f"<tr><th>{esc(loss)}</th>{cells}</tr>")
    failures = "".join(f"<li><code>{esc(r.loss)}</code> {esc(r.backend)} {esc(r.dtype)} {esc(r.reduction)} <i>{esc(r.check)}</i> "
                       f"{esc(r.case)}: {esc(r.detail)}</li>" for r in shown) or "<li>none</li>"
    note = f"<p>{esc(MORE.format(more))}</p>" if more else ""
    accepted = "".join(f"<li>{count} x {esc(reason)}</li>"
                       for reason, count in _accepted_reasons([r for r in results if r.accepted]).items()) or "<li>none</li>"
    env = environment()
    verdict = "all checks pass" if not failed else f"{len(failed)} checks fail"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>crossloss parity report</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:center}} th{{background:#f6f6f6}}</style></head>
<body><h1>crossloss parity report: {esc(verdict)}</h1>
<p>{len(results)} checks. A cell is the worst error among the passing checks of that loss, backend and dtype,
as a fraction of the tolerance (green 0, amber 1.00 = at the tolerance); red cells have failures.</p>
<table><tr><th>loss</th>{head}</tr>{''.join(rows)}</table>
<h2>Failures</h2><ul>{failures}</ul>{note}
<h2>Reviewed divergences</h2><ul>{accepted}</ul>
<h2>Environment</h2><pre>{esc(json.dumps(env, indent=1))}</pre>
</body></html>
"""
