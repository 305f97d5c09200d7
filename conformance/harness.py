"""The checks: every loss x backend x dtype x reduction x parameter set x case, against
the float64 reference evaluated on the same (dtype-rounded) inputs.

A result passes when |out - ref| <= atol + rtol |ref| everywhere (the worst ratio is the
"error" reported, 1.0 is the limit), non-finite references are matched exactly, and no
NaN appears where the reference is finite.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

import crossloss
from crossloss.errors import LossValueError
from crossloss.spec import DENSE_OR_LABELS, PROBABILITIES

from . import cases as case_catalogue
from .frameworks import (DTYPES, GRADIENT_BACKENDS, TRACES, framework, quantized, run_labels, to_backend, to_numpy,
                         traced, value_and_gradient)
from .reference import REFERENCE, from_unreduced

DIVERGENCES = json.loads((Path(__file__).with_name("divergences.json")).read_text())["entries"]

# One table of tolerances. Half precision inputs are computed in float32, and the reference
# sees the same rounded inputs, so float32 tolerances apply to them too.
TOLERANCES = {
    "float64": (1e-9, 1e-12),
    "float32": (1e-5, 1e-6),
    "float16": (1e-5, 1e-6),
    "bfloat16": (1e-5, 1e-6),
}
REDUCTIONS = ("mean", "sum", "none")
# Checks of one kind run at fixed dtypes, and only where a selection of dtypes includes them.
GRADIENT_DTYPE = "float64"                  # gradients: against finite differences and each other
TRACE_DTYPE = "float32"                     # torch.compile, meta, tf.function against eager
COMPAT_DTYPES = ("float64", "float32")      # compat profiles against the frameworks' own losses
GRADIENT_TOLERANCE = (1e-9, 1e-12)          # float64, analytic against analytic
FINITE_DIFFERENCE_TOLERANCE = (1e-5, 1e-7)  # float64, central differences with step 1e-6


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
    accepted: str = ""  # the reason, when a failure matches a reviewed divergence

    @property
    def key(self) -> str:
        return f"{self.loss}/{self.backend}/{self.dtype}/{self.check}"


def reference_for(loss: str, caller: str = "conformance"):
    """The independent float64 reference of a loss: built in, or the user's unreduced one.
    A loss without one cannot be checked (NumPy would be compared with itself): an error
    that starts with ``caller``."""
    spec = crossloss.spec(loss)
    if spec.name in REFERENCE:
        return REFERENCE[spec.name]
    if spec.reference is None:
        raise LossValueError(f"{caller}: loss '{spec.name}' expected an independent float64 NumPy reference "
                             "(crossloss.loss(..., reference=fn) or LossSpec(reference=fn), fn(y_true, y_pred, "
                             "**params) -> the unreduced loss); got none, and without it the harness would compare "
                             "the backends with themselves")
    return from_unreduced(spec.reference)


def compare(out: np.ndarray, ref: np.ndarray, dtype: str, tolerance=None) -> tuple[bool, float, str]:
    """(passed, worst normalised error, what went wrong)."""
    rtol, atol = tolerance or TOLERANCES[dtype]
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
        return False, worst, f"got {float(out[finite][i])!r}, reference {float(ref[finite][i])!r}"
    return True, worst, ""


def check_value(case, backend: str, dtype: str, reduction: str, native: bool = True) -> Result:
    """One call of the loss against the reference on the dtype-rounded inputs."""
    check = "value" if native else "value (generic formula)"
    result = Result(case.loss, case.name, backend, dtype, reduction, check, False, float("inf"))
    args = [to_backend(backend, a, dtype) for a in (case.y_true, case.y_pred, case.sample_weight)]
    try:
        with crossloss.options(native_kernels=native):
            out = crossloss.get(case.loss, backend=framework(backend), reduction=reduction, **case.params)(*args)
    except Exception as error:  # reported as a failure, with its message
        result.detail = f"{type(error).__name__}: {error}"
        return result
    expected_dtype = "float64" if dtype == "float64" else "float32"
    got_dtype = crossloss.backends.load(framework(backend)).OPS.dtype_name(out) if hasattr(out, "dtype") else type(out).__name__
    if got_dtype != expected_dtype:
        result.detail = f"result dtype {got_dtype}, expected {expected_dtype}"
        return result
    inputs = [quantized(backend, a, dtype) for a in (case.y_true, case.y_pred, case.sample_weight)]
    reference = reference_for(case.loss)
    try:
        with np.errstate(all="ignore"):
            ref = reference(*inputs, reduction=reduction, **case.params)
    except Exception as error:  # a user's reference: its checks fail, with its error, and the report goes on
        result.detail = _reference_failed(error)
        return result
    if not case.edge and np.isnan(ref).any():  # NaN against NaN would pass, and check nothing
        result.detail = "the reference is NaN on a random case (inputs outside the loss's domain?)"
        return result
    result.passed, result.error, result.detail = compare(to_numpy(out), np.asarray(ref, dtype=np.float64), dtype)
    return result


def _divergence(result: Result) -> dict | None:
    """The reviewed divergence that covers this failure, if one does."""
    for entry in DIVERGENCES if not result.passed else ():
        losses = entry["loss"] if isinstance(entry["loss"], list) else [entry["loss"]]
        if (result.loss in losses or "*" in losses) and (entry["backend"], entry["check"]) == (result.backend, result.check) \
                and entry["case"] in result.case:
            return entry
    return None


def _accept(result: Result) -> Result:
    """Mark a failure that a reviewed divergence covers (a compat check's is checked against
    its stand-in in check_compat, and marked there)."""
    entry = _divergence(result)
    if entry is not None and "instead" not in entry:
        result.passed, result.accepted = True, entry["reason"]
    return result


def _args(case, backend, dtype):
    return [to_backend(backend, a, dtype) for a in (case.y_true, case.y_pred, case.sample_weight)]


def check_gradient_fd(case, backend: str, wrt: str = "y_pred") -> Result:
    """float64 gradient of the mean in ``wrt`` ("y_pred"; "y_true" for soft targets;
    "sample_weight"), the other inputs held constant, against finite differences of the reference."""
    check = {"y_pred": "gradient vs finite differences", "y_true": "target gradient vs finite differences",
             "sample_weight": "sample weight gradient vs finite differences"}[wrt]
    result = Result(case.loss, case.name, backend, GRADIENT_DTYPE, "mean", check, False, float("inf"))
    try:
        _, grad = value_and_gradient(backend, crossloss.get(case.loss, backend=backend, **case.params),
                                     *_args(case, backend, GRADIENT_DTYPE), wrt=wrt)
    except Exception as error:
        result.detail = f"{type(error).__name__}: {error}"
        return result
    reference = reference_for(case.loss)
    inputs = {"y_true": case.y_true, "y_pred": case.y_pred, "sample_weight": case.sample_weight}

    def moved(x):
        return reference(**{**inputs, wrt: x}, **case.params)
    # targets in [0, 1] are differenced inwards at 0 and 1 (KL's p log p has no value below 0)
    low, high = (0.0, 1.0) if wrt == "y_true" and _bounded_target(case) else (-np.inf, np.inf)
    try:
        numeric = numeric_gradient(moved, inputs[wrt], 1e-6, low, high)
    except Exception as error:
        result.detail = _reference_failed(error)
        return result
    result.passed, result.error, result.detail = compare(grad, numeric, "float64", FINITE_DIFFERENCE_TOLERANCE)
    return result


def _reference_failed(error: Exception) -> str:
    return f"the reference raised {type(error).__name__}: {error}"


def numeric_gradient(f, x: np.ndarray, step: float, low=-np.inf, high=np.inf) -> np.ndarray:
    """d f / d x by central differences; one-sided second-order ones, (-3 f(x) + 4 f(x + h)
    - f(x + 2h)) / 2h, where a central step would leave [low, high]."""
    grad = np.zeros(x.shape, np.float64)
    for i in np.ndindex(x.shape):
        side = 1 if x[i] - step < low else -1 if x[i] + step > high else 0
        taps = ((-1, -0.5), (1, 0.5)) if side == 0 else ((0, -1.5 * side), (side, 2.0 * side), (2 * side, -0.5 * side))
        for offset, weight in taps:
            shifted = x.astype(np.float64)  # a copy
            shifted[i] += offset * step
            grad[i] += weight * f(shifted) / step
    return grad


def _bounded_target(case) -> bool:
    spec = crossloss.spec(case.loss)
    return spec.target_kind({**spec.defaults(), **case.params}) in (PROBABILITIES, DENSE_OR_LABELS)


def _soft_targets(case) -> bool:
    """y_true takes a gradient: real-valued (values, probabilities, one-hot), not labels."""
    return np.asarray(case.y_true).dtype.kind == "f"


def check_gradient_pair(case, backend: str, other: str, native=(False, False)) -> Result:
    """float64 value and gradient of the mean on ``backend`` against ``other`` (or the same
    backend with the other kernel choice): 'fused kernel vs formula' when backend == other."""
    name = "gradient: fused kernel vs formula" if backend == other else f"gradient vs {other}"
    result = Result(case.loss, case.name, backend, GRADIENT_DTYPE, "mean", name, False, float("inf"))
    try:
        outputs = []
        for which, use_native in ((backend, native[0]), (other, native[1])):
            with crossloss.options(native_kernels=use_native):
                loss = crossloss.get(case.loss, backend=framework(which), **case.params)
                outputs.append(value_and_gradient(which, loss, *_args(case, which, GRADIENT_DTYPE)))
    except Exception as error:
        result.detail = f"{type(error).__name__}: {error}"
        return result
    (value, grad), (value_other, grad_other) = outputs
    if np.isfinite(value).all() and (np.isnan(grad).any() or np.isnan(grad_other).any()):
        result.detail = "NaN gradient where the loss is finite"  # agreeing NaNs are still wrong
        return result
    result.passed, result.error, result.detail = compare(grad, grad_other, "float64", GRADIENT_TOLERANCE)
    if result.passed:
        result.passed, result.error, result.detail = compare(value, value_other, "float64", GRADIENT_TOLERANCE)
    return result


def check_traced(case, backend: str, trace: str) -> Result:
    """float32 'mean' under a trace or compiler equals eager (for meta: shape, dtype, device)."""
    result = Result(case.loss, case.name, backend, TRACE_DTYPE, "mean", trace, False, float("inf"))
    loss = crossloss.get(case.loss, backend=framework(backend), **case.params)
    y_true, y_pred, _ = _args(case, backend, TRACE_DTYPE)
    try:
        eager = loss(y_true, y_pred)
        out = traced(backend, trace, loss, y_true, y_pred)
    except Exception as error:
        result.detail = f"{type(error).__name__}: {error}"
        return result
    if trace == "torch meta tensors":
        expected = (tuple(eager.shape), str(eager.dtype), "meta")
        result.passed, result.error = out == expected, 0.0 if out == expected else float("inf")
        result.detail = "" if result.passed else f"got {out}, eager gives {expected}"
        return result
    result.passed, result.error, result.detail = compare(to_numpy(out), to_numpy(eager), TRACE_DTYPE)
    return result


COMPAT_TOLERANCE = {"float64": (1e-6, 1e-12), "float32": (1e-5, 1e-6)}


def check_compat(case, profile: str, dtype: str, reduction: str, backend: str | None = None) -> Result:
    """crossloss.get(..., compat=profile) on ``backend`` (the framework's own by default)
    against the framework's own loss on the same values: a profile is for migrations, so it
    must give the framework's number on every backend."""
    from . import own
    framework = own.FRAMEWORK[profile]
    backend = backend or framework
    result = Result(case.loss, case.name, backend, dtype, reduction, f"compat={profile} vs {profile}'s own loss",
                    False, float("inf"))
    args, their_args = _args(case, backend, dtype)[:2], _args(case, framework, dtype)[:2]
    try:
        ours = to_numpy(crossloss.get(case.loss, backend=backend, reduction=reduction, compat=profile, **case.params)(*args))
        theirs = own.keras_loss(case.loss, case.params, reduction, dtype) if profile == "keras" else \
            own.torch_loss(case.loss, case.params, reduction)
    except Exception as error:
        result.detail = f"{type(error).__name__}: {error}"
        return result
    try:
        result.passed, result.error, result.detail = compare(ours, to_numpy(theirs(*their_args)), dtype,
                                                             COMPAT_TOLERANCE[dtype])
    except Exception as error:  # the framework refuses the inputs (torch's BCE: (B,) against (B, 1))
        result.detail = f"{type(error).__name__}: {error}"
    entry = _divergence(replace(result, backend=framework))  # (an entry names the framework whose number it is)
    if entry is not None:  # the framework's number is none to keep: crossloss's against what it stands for
        result.passed, result.error, result.detail = compare(
            ours, to_numpy(own.STAND_INS[entry["instead"]](theirs, *their_args)), dtype, COMPAT_TOLERANCE[dtype])
        result.accepted = entry["reason"] if result.passed else ""
        result.detail = result.detail and f"{result.detail} (against the stand-in {entry['instead']!r})"
    return result


def selected(dtype: str, dtypes) -> bool:
    """``dtype`` is in the selection (None: every dtype)."""
    return dtypes is None or dtype in dtypes


def value_groups(backends, dtypes=None) -> list[tuple[str, str]]:
    """(run label, dtype) of every value check group: each backend's dtypes in the selection,
    on each device it runs on ("torch:cuda" too where torch sees a GPU)."""
    return [(label, dtype) for backend in backends for label in run_labels(backend)
            for dtype in DTYPES[backend] if selected(dtype, dtypes)]


def compat_checks(losses, backends, dtypes=None, only=None) -> list[Result]:
    """Every profile (``only`` that one) whose framework is installed, on each selected
    backend, at each selected one of COMPAT_DTYPES, every reduction."""
    from . import own
    from crossloss.compat import profiles
    results = []
    for profile, names in profiles().items():
        if own.FRAMEWORK[profile] not in backends or only not in (None, profile):
            continue
        for loss in (n for n in names if n in losses):
            for case in own.profile_cases(profile, loss):
                for backend, dtype in ((b, d) for b in backends for d in COMPAT_DTYPES if selected(d, dtypes)):
                    results += [check_compat(case, profile, dtype, r, backend) for r in REDUCTIONS]
    return results  # (check_compat has weighed each against its divergence's stand-in)


def run(losses=None, backends=None, dtypes=None, reductions=REDUCTIONS, edges=True, progress=None,
        gradients=True, traces=True, compat=True) -> list[Result]:
    """Every check of the selection; ``progress(done, total, label)`` is called per group.
    Gradient, trace and compat checks run at their own dtypes, where ``dtypes`` has them."""
    losses = [crossloss.spec(name).name for name in (losses or crossloss.list_losses())]
    for loss in losses:
        reference_for(loss)  # a loss without a reference is refused before any check
    backends = backends or crossloss.available_backends()
    groups = [(loss, label, dtype) for loss in losses for label, dtype in value_groups(backends, dtypes)]
    results: list[Result] = []
    catalogue = {loss: case_catalogue.all_cases(loss, edges=edges) for loss in losses}
    for done, (loss, backend, dtype) in enumerate(groups):
        if progress:
            progress(done, len(groups), f"{loss} / {backend} / {dtype}")
        results += check_group(catalogue[loss], backend, dtype, reductions)
    for loss in losses:
        if progress:
            progress(len(groups) - 1, len(groups), f"{loss}: gradients and traces")
        if gradients:
            results += gradient_checks(catalogue[loss], backends, dtypes)
        if traces:
            results += trace_checks(catalogue[loss], backends, dtypes)
    if compat:
        results += compat_checks(losses, backends, dtypes)
    return [_accept(r) for r in results]


def gradient_checks(cases, backends, dtypes=None) -> list[Result]:
    """Per backend with autograd: finite differences on random cases (in y_pred, soft y_true
    and sample_weight); against the other backend and between fused kernel and formula on every
    case. None unless ``dtypes`` selects GRADIENT_DTYPE."""
    with_grad = [b for b in GRADIENT_BACKENDS if b in backends and selected(GRADIENT_DTYPE, dtypes)]
    results = []
    for case in cases:
        for backend in with_grad:
            if not case.edge:
                results.append(check_gradient_fd(case, backend))
                if _soft_targets(case):
                    results.append(check_gradient_fd(case, backend, wrt="y_true"))
                if case.sample_weight is not None:
                    results.append(check_gradient_fd(case, backend, wrt="sample_weight"))
            native = case.loss in crossloss.backends.load(backend).NATIVE
            for label in run_labels(backend):
                if native:  # a device's fused kernels are its own code
                    results.append(check_gradient_pair(case, label, label, native=(True, False)))
                if label != backend:  # another device: against the CPU's gradient
                    results.append(check_gradient_pair(case, label, backend))
        if len(with_grad) == 2:
            results.append(check_gradient_pair(case, with_grad[0], with_grad[1]))
    return [_accept(r) for r in results]


def trace_checks(cases, backends, dtypes=None) -> list[Result]:
    """The random case of each parameter set (or given inputs), under every trace of every
    backend that has one: a compile per case, so not the other shapes or the edges. None
    unless ``dtypes`` selects TRACE_DTYPE."""
    results = []
    for case in cases if selected(TRACE_DTYPE, dtypes) else ():
        if case.edge or case.sample_weight is not None or case.label.startswith("random, "):
            continue
        for label in (label for backend in backends for label in run_labels(backend)):
            for trace in TRACES.get(label, ()):
                results.append(check_traced(case, label, trace))
    return [_accept(r) for r in results]


def check_group(cases, backend, dtype, reductions=REDUCTIONS) -> list[Result]:
    """Value checks of ``cases`` on a backend (or run label such as "torch:cuda") and dtype."""
    native_losses = crossloss.backends.load(framework(backend)).NATIVE
    results = []
    for case in cases:
        for reduction in reductions:
            results.append(check_value(case, backend, dtype, reduction))
            if case.loss in native_losses:  # the fused kernel and the generic formula must agree
                results.append(check_value(case, backend, dtype, reduction, native=False))
    return [_accept(r) for r in results]


def summarise(results: list[Result]) -> dict:
    """(loss, backend, dtype) -> {"checks", "failed", "accepted", "worst" (of the passes, for a
    heat-map of how close they come), "worst_any" (of every check but the reviewed
    divergences: inf where one gave NaN or inf)}."""
    table: dict = {}
    for r in results:
        row = table.setdefault((r.loss, r.backend, r.dtype),
                               {"checks": 0, "failed": 0, "accepted": 0, "worst": 0.0, "worst_any": 0.0})
        row["checks"] += 1
        row["failed"] += not r.passed
        row["accepted"] += bool(r.accepted)
        if not r.accepted:
            error = r.error if r.error == r.error else math.inf  # NaN: as bad as it gets
            row["worst_any"] = max(row["worst_any"], error)
            if r.passed:
                row["worst"] = max(row["worst"], error)
    return table
