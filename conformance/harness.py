"""The checks: every loss x backend x dtype x reduction x parameter set x case, against
the float64 reference evaluated on the same (dtype-rounded) inputs.

A result passes when |out - ref| <= atol + rtol |ref| everywhere (the worst ratio is the
"error" reported, 1.0 is the limit), non-finite references are matched exactly, and no
NaN appears where the reference is finite.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

import crossloss

from . import cases as case_catalogue
from .frameworks import DTYPES, quantized, to_backend, to_numpy
from .reference import REFERENCE

# One table of tolerances. Half precision inputs are computed in float32, and the reference
# sees the same rounded inputs, so float32 tolerances apply to them too.
TOLERANCES = {
    "float64": (1e-9, 1e-12),
    "float32": (1e-5, 1e-6),
    "float16": (1e-5, 1e-6),
    "bfloat16": (1e-5, 1e-6),
}
REDUCTIONS = ("mean", "sum", "none")


@dataclass
class Result:
    loss: str
    case: str
    backend: str
    dtype: str
    reduction: str
    check: str
    passed: bool
    error: float  # worst |out - ref| / (atol + rtol |ref|); <= 1 passes
    detail: str = ""

    @property
    def key(self) -> str:
        return f"{self.loss}/{self.backend}/{self.dtype}/{self.check}"


def reference_for(loss: str):
    spec = crossloss.spec(loss)
    return REFERENCE.get(spec.name) or spec.reference


def compare(out: np.ndarray, ref: np.ndarray, dtype: str) -> tuple[bool, float, str]:
    """(passed, worst normalised error, what went wrong)."""
    rtol, atol = TOLERANCES[dtype]
    if out.shape != ref.shape:
        return False, float("inf"), f"shape {out.shape}, reference {ref.shape}"
    finite = np.isfinite(ref)
    if np.any(np.isnan(out) & ~np.isnan(ref)):
        return False, float("inf"), "NaN where the reference is not NaN"
    if not np.array_equal(out[~finite], ref[~finite], equal_nan=True):
        return False, float("inf"), f"non-finite mismatch: {out[~finite][:4]} vs {ref[~finite][:4]}"
    if not finite.any():
        return True, 0.0, ""
    err = np.abs(out[finite] - ref[finite]) / (atol + rtol * np.abs(ref[finite]))
    worst = float(np.max(err)) if err.size else 0.0
    if not worst <= 1.0:  # NaN/inf errors fail too
        i = int(np.nanargmax(err)) if np.isfinite(err).any() else 0
        return False, worst, f"got {out[finite][i]!r}, reference {ref[finite][i]!r}"
    return True, worst, ""


def check_value(case, backend: str, dtype: str, reduction: str, native: bool = True) -> Result:
    """One call of the loss against the reference on the dtype-rounded inputs."""
    check = "value" if native else "value (generic formula)"
    result = Result(case.loss, case.name, backend, dtype, reduction, check, False, float("inf"))
    args = [to_backend(backend, a, dtype) for a in (case.y_true, case.y_pred, case.sample_weight)]
    try:
        with crossloss.options(native_kernels=native):
            out = crossloss.get(case.loss, backend=backend, reduction=reduction, **case.params)(*args)
    except Exception as error:  # reported as a failure, with its message
        result.detail = f"{type(error).__name__}: {error}"
        return result
    expected_dtype = "float64" if dtype == "float64" else "float32"
    got_dtype = crossloss.backends.load(backend).OPS.dtype_name(out) if hasattr(out, "dtype") else type(out).__name__
    if got_dtype != expected_dtype:
        result.detail = f"result dtype {got_dtype}, expected {expected_dtype}"
        return result
    with np.errstate(all="ignore"):
        ref = reference_for(case.loss)(*(quantized(backend, a, dtype) for a in (case.y_true, case.y_pred, case.sample_weight)),
                                       reduction=reduction, **case.params)
    result.passed, result.error, result.detail = compare(to_numpy(out), np.asarray(ref, dtype=np.float64), dtype)
    return result


def run(losses=None, backends=None, dtypes=None, reductions=REDUCTIONS, edges=True, progress=None) -> list[Result]:
    """Every check of the selection; ``progress(done, total, label)`` is called per group."""
    losses = [crossloss.spec(name).name for name in (losses or crossloss.list_losses())]
    backends = backends or crossloss.available_backends()
    groups = [(loss, backend, dtype) for loss in losses for backend in backends
              for dtype in DTYPES[backend] if dtypes is None or dtype in dtypes]
    results: list[Result] = []
    catalogue = {loss: case_catalogue.all_cases(loss, edges=edges) for loss in losses}
    for done, (loss, backend, dtype) in enumerate(groups):
        if progress:
            progress(done, len(groups), f"{loss} / {backend} / {dtype}")
        results += check_group(catalogue[loss], backend, dtype, reductions)
    return results


def check_group(cases, backend, dtype, reductions=REDUCTIONS) -> list[Result]:
    native_losses = crossloss.backends.load(backend).NATIVE
    results = []
    for case in cases:
        for reduction in reductions:
            results.append(check_value(case, backend, dtype, reduction))
            if case.loss in native_losses:  # the fused kernel and the generic formula must agree
                results.append(check_value(case, backend, dtype, reduction, native=False))
    return results


def summarise(results: list[Result]) -> dict:
    """(loss, backend, dtype) -> {"checks", "failed", "worst"}."""
    table: dict = {}
    for r in results:
        row = table.setdefault((r.loss, r.backend, r.dtype), {"checks": 0, "failed": 0, "worst": 0.0})
        row["checks"] += 1
        row["failed"] += not r.passed
        row["worst"] = max(row["worst"], r.error)
    return table
