"""Rendering results: a compact terminal table and JSON."""
from __future__ import annotations

import json
import platform
import sys

from .harness import TOLERANCES, Result, summarise


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
    """One row per loss and dtype, one column per backend: 'ok 0.03' is the worst error
    as a fraction of the tolerance; 'FAIL 3/120' counts failed checks."""
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
    lines.append("")
    lines.append(f"{len(results) - len(failed)} passed, {len(failed)} failed "
                 f"(error = worst |out - ref| / (atol + rtol |ref|); 1.00 is the tolerance)")
    for r in failed[:50]:
        lines.append(f"FAIL {r.loss} [{r.backend} {r.dtype} {r.reduction} {r.check}] {r.case}: {r.detail}")
    if len(failed) > 50:
        lines.append(f"... and {len(failed) - 50} more")
    return "\n".join(lines)


def as_json(results: list[Result], backends: list[str]) -> str:
    """Schema: {"environment", "tolerances": {dtype: [rtol, atol]}, "summary": [{loss, backend,
    dtype, checks, failed, worst}], "failures": [Result fields], "passed": bool}."""
    summary = [{"loss": k[0], "backend": k[1], "dtype": k[2], **v} for k, v in sorted(summarise(results).items())]
    failures = [vars(r) for r in results if not r.passed]
    return json.dumps({"environment": environment(), "backends": backends,
                       "tolerances": {k: list(v) for k, v in TOLERANCES.items()},
                       "summary": summary, "failures": failures, "passed": not failures}, indent=1, default=str)
