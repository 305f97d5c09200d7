"""A loss bound to its parameters: ``get(name, backend=None, **params)(y_true, y_pred, sample_weight)``.

The one place where a call is checked, dispatched, promoted, reduced and weighted; the
loss's own math (``LossSpec.compute``) sees checked tensors of the compute dtype only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from . import backends as _backends
from . import contract, dispatch, registry
from .errors import CrosslossError, LossTypeError, LossValueError, bad_type, bad_value, did_you_mean
from .options import CURRENT
from .spec import LossSpec, Terms


def _read_only(name: str):
    def refuse(loss, value):
        raise AttributeError(f"{loss!r}: '{name}' is read-only (get() checked it, and the loss's plans are made for "
                             f"it): make another loss with crossloss.get()")
    return refuse


class Loss:
    """A callable loss. Argument order is Keras's: ``loss(y_true, y_pred, sample_weight=None)``.

    Returns a tensor of the inputs' framework, on their device, differentiable.
    """

    def __init__(self, spec: LossSpec, params: dict, reduction: str, backend: str | None):
        self.spec = spec
        self._params, self._reduction, self._named = params, reduction, backend  # read-only (the properties)
        # per-class parameter -> its weights as Python numbers, which a trace takes as constants
        # (torch.compile makes a NumPy array a graph input, whose guard fails under inference_mode)
        self._per_class = {p.name: _numbers(params[p.name]) for p in spec.params
                           if p.per_class and params[p.name] is not None}
        self._one_for_all = {p.name for p in spec.params if p.one_for_all}
        self._plans = _shared_plans(spec, params, reduction, backend, self._per_class)  # signature -> _Plan
        self._last = None  # the plan of the latest eager call, if its backend can match inputs to it
        self._prediction = spec.prediction_kind(params)  # what y_pred holds: probabilities, logits...
        self._target = spec.target_kind(params)
        self._backend = _backends.load(backend, spec.name) if backend else None  # a missing framework fails at get()
        if backend is None:
            _backends.load_imported()  # dispatch then imports nothing, which a torch.compile trace could not
        self._repr = self._call_text()

    # A loss's plans were made for its parameters, which get() checked: a write would skip both
    # (a negative Huber delta gave -27.5 before the first call, and was ignored after it)
    # (a mapping proxy of its own dict: Dynamo traces none whose dict a trace has seen change)
    params = property(lambda self: MappingProxyType(self._params), _read_only("params"), doc="the parameters")
    reduction = property(lambda self: self._reduction, _read_only("reduction"), doc="'mean', 'sum' or 'none'")
    backend = property(lambda self: self._named, _read_only("backend"), doc="the backend get() named, or None")

    def __reduce__(self):
        """Pickled (and deep-copied) as the ``get()`` call that rebuilds it: its spec holds
        functions, and its plans are a cache of per-signature classes."""
        return _rebuild, (self.get_config(),)

    def __repr__(self) -> str:
        return self._repr

    def _call_text(self) -> str:
        """The get() call that makes this loss. Formatted once: torch.func.vmap names the
        function it maps by its repr, and a torch.compile trace cannot format an array."""
        changed = {k: v for k, v in self._params.items() if _differs(v, self.spec.defaults()[k])}
        args = [repr(self.spec.extra.get("base", self.spec.name))] + [f"{k}={v!r}" for k, v in changed.items()]
        if self._reduction != "mean":
            args.append(f"reduction={self._reduction!r}")
        if self.spec.compat:
            args.append(f"compat={self.spec.compat!r}")
        if self._named:
            args.append(f"backend={self._named!r}")
        return f"crossloss.get({', '.join(args)})"

    def get_config(self) -> dict:
        """Everything needed to rebuild this loss with ``crossloss.get(**config)``."""
        config = {"name": self.spec.extra.get("base", self.spec.name), "backend": self._named,
                  "reduction": self._reduction, **self._params}
        if self.spec.compat:
            config["compat"] = self.spec.compat
        return config

    def __call__(self, y_true=None, y_pred=None, sample_weight=None, **unknown):
        if unknown:  # (an empty dict per call: ~40 ns; a missing input is refused as None, after a misnamed one)
            raise unknown_keyword(self.spec, unknown, _CALL_ARGUMENTS, _CALL_NAMES)
        # the latest eager call's plan: inputs of its signature skip dispatch and lookup (a trace
        # reads it not: torch.compile would guard on it, and recompile after each eager call)
        plan = None if _backends.tracing() else self._last
        # a weight of y_pred's own type is of its framework: dispatch has nothing to add (its
        # device, shape and dtype are the weight's own checks, on every call)
        if plan is None or not plan.matches(y_true, y_pred) or (
                sample_weight is not None and type(sample_weight) is not type(y_pred)):
            plan, y_true, y_pred = self._planned(y_true, y_pred, sample_weight)
        settings = CURRENT.options
        given = y_true, y_pred  # as they came: a cast to int64 wraps a uint64 label the error shows
        # a sample_weight weighs the unreduced values: the kernel of those, checked for it
        weighted = sample_weight is not None
        kernel = plan.native_values if weighted else plan.native
        checks = plan.weighted_checks if weighted else plan.checks
        if plan.converts:
            call, y_true, y_pred, kernel = self._checked(plan, settings, y_true, y_pred, kernel, checks)
        else:  # (_checked's check alone, inline: at 1e3 values each Python call costs ~0.3 us)
            kernel = kernel if settings.native_kernels else None
            check = checks.get(settings.value_checks)
            call = plan.call.for_call(settings) if check is None else \
                check(plan.call, settings, y_true, y_pred, kernel is not None)
        try:
            found = None if kernel is None else kernel(call, y_true, y_pred)
            result = None if weighted else found
            if result is None:
                terms = self.spec.compute(call, y_true, y_pred) if found is None else Terms(found)
        except plan.ops.refusals:  # a framework's own check refused a value: say which and why
            contract.explain_failure(plan.checks, settings, call, *given)
            raise
        if result is None:
            result = _reduce(self.spec.name, plan.ops, terms, sample_weight, self._reduction, y_pred, plan.divisors,
                             plan.weights)
        guard = plan.guards.get(settings.value_checks)
        return result if guard is None else guard(result, y_true, y_pred)

    def terms(self, y_true=None, y_pred=None, sample_weight=None, **unknown) -> Terms:
        """The parts a reduction is made of: ``values`` (the unreduced loss, times
        ``sample_weight``) and ``count``, what "mean" divides ``sum(values)`` by (None: the
        number of entries of ``values``; else ``counted`` holds each entry's share of it).
        For global means across replicas and for Keras."""
        if unknown:
            raise unknown_keyword(self.spec, unknown, _CALL_ARGUMENTS, _CALL_NAMES)
        settings = CURRENT.options
        plan, y_true, y_pred = self._planned(y_true, y_pred, sample_weight)
        given = y_true, y_pred
        call, y_true, y_pred, _ = self._checked(plan, settings, y_true, y_pred, None, plan.checks)
        try:
            terms = self.spec.compute(call, y_true, y_pred).scaled(plan.ops)
        except plan.ops.refusals:
            contract.explain_failure(plan.checks, settings, call, *given)
            raise
        values = _weighted(self.spec.name, plan.ops, terms, sample_weight, y_pred, plan.weights)
        guard = plan.guards.get(settings.value_checks)
        if guard is not None:
            values = guard(values, y_true, y_pred)
        return Terms(values, terms.count, terms.weighted_by_sample, terms.nan_if_empty, counted=terms.counted)

    def parts(self, y_true=None, y_pred=None, sample_weight=None, **unknown):
        """(sum, count): "mean" is sum / count. Sharded data needs both all-reduced, see
        ``crossloss.distributed.global_mean``; a per-replica mean is not the global one."""
        terms = self.terms(y_true, y_pred, sample_weight, **unknown)
        ops = dispatch.backend_for(self.spec.name, terms.values, terms.values).OPS
        if not terms.weighted_by_sample:  # e.g. Dice with batch=True: one value per class for the batch
            raise LossValueError(f"{self.spec.name}: parts() expected a loss whose unreduced values are per "
                                 "sample, so that the shards' sums and counts add up to the global mean; got "
                                 f"values over the whole batch (shape {ops.static_shape(terms.values)})")
        total = ops.sum(terms.values)
        if self._reduction == "batchmean":
            count = _batch_size(ops, terms.values)
        else:
            count = ops.traced_size(terms.values) if terms.count is None else terms.count
        return total, ops.cast(ops.asarray(count, like=total), ops.dtype_name(total))

    def _planned(self, y_true, y_pred, sample_weight):
        """Dispatch, conversion to tensors, and the plan of the inputs' signature: what depends
        only on their shapes, dtypes and device is decided once per signature (a ``_Plan``)."""
        spec = self.spec
        backend = self._backend or dispatch.backend_for(spec.name, y_true, y_pred, sample_weight)
        ops = backend.OPS
        if not (isinstance(y_pred, ops.tensor_types) and isinstance(y_true, ops.tensor_types)):
            y_true, y_pred = _as_tensors(spec.name, ops, y_true, y_pred, sample_weight)
        y_true, y_pred = ops.current(y_true), ops.current(y_pred)
        key = ops.signature(y_true, y_pred)  # None inside a trace: nothing is reused there
        plan = self._plans.get(key) if key is not None else None
        if plan is None:
            plan = self._plan(backend, y_true, y_pred, reused=key is not None)
            if key is not None:
                if len(self._plans) >= _MAX_PLANS:  # the oldest goes: clearing all at the cap (64 then)
                    _drop_oldest(self._plans)  # planned a cycle of 65 anew each call (8x at 1e3)
                self._plans[key] = plan
        if plan.matches is not None:
            self._last = plan
        return plan, y_true, y_pred

    def _checked(self, plan, settings, y_true, y_pred, kernel, checks: dict):
        """One call's reshapes, value checks and casts. Returns the call, both inputs, and the
        fused kernel to run: ``kernel`` (the plan's ``native`` or ``native_values``, with the
        ``checks`` made for it), or None for the formula. The values are checked on every call."""
        ops = plan.ops
        if plan.true_shape is not None:
            y_true = ops.reshape(y_true, plan.true_shape)
        if plan.pred_shape is not None:
            y_pred = ops.reshape(y_pred, plan.pred_shape)
        kernel = kernel if settings.native_kernels else None
        # casts to the compute dtype first: NumPy's float16 min and max take 7x a cast and float32's
        if plan.pred_dtype is not None:
            y_pred = ops.cast(y_pred, plan.pred_dtype)
        labels = plan.true_dtype == "int64"  # (no compute dtype is): read as they came, then cast
        if plan.true_dtype is not None and not labels:
            y_true = ops.cast(y_true, plan.true_dtype)
        check = checks.get(settings.value_checks)
        if check is None:
            call = plan.call.for_call(settings)
        else:
            call = check(plan.call, settings, y_true, y_pred, kernel is not None)
        if plan.true_dtype is not None and labels:
            y_true = contract.label_indices(call, y_true) if plan.inexact_labels else ops.cast(y_true, plan.true_dtype)
        return call, y_true, y_pred, kernel

    def _plan(self, backend, y_true, y_pred, reused: bool) -> "_Plan":
        spec, ops = self.spec, backend.OPS
        dtype = contract.compute_dtype(spec.name, ops, y_pred)
        contract.check_real(spec.name, "y_true", ops, y_true)
        contract.check_device(spec.name, ops, y_true, y_pred)
        self._check_in_dtype(dtype)
        call = contract.Call(ops, self._params_for(ops, y_pred, dtype) if self._per_class else self._params, dtype, spec.name)
        true_shape, pred_shape = contract.layout(spec.name, spec, call, y_true, y_pred)
        if self._per_class:
            self._check_per_class(call, ops.static_shape(y_pred))
        true_dtype = "int64" if call.labels else dtype
        choose = backend.NATIVE.get(spec.name)
        native = choose and choose(call, self._reduction, y_pred)
        # for a sample_weight: the kernel's "none", where the mean counts every entry (no label
        # left out: sparse CE without ignore_index or class weights)
        native_values = (native if self._reduction == "none" else choose(call, "none", y_pred)) \
            if choose and spec.values_per_entry else None
        if spec.gathers_labels and not getattr(native_values, "counts_every_entry", False):
            native_values = None
        checks, weighted_checks = ({mode: contract.value_checker(
            spec.name, spec, call, y_true, y_pred, (self._target, self._prediction), mode == "always",
            getattr(kernel, "covers_pred", False), getattr(kernel, "skipped_label", None))
            for mode in ("auto", "always")} for kernel in (native, native_values))
        # sizes a graph leaves unknown are compared in every mode: they are no value check
        sizes = contract.shape_guard(call, y_true, y_pred) if true_shape is None and pred_shape is None else None
        labels = {mode: contract.label_guard(call, y_true, y_pred, mode) for mode in ("auto", "always", "never")}
        guards = {mode: _chained(labels.get(mode), sizes) for mode in ("auto", "always", "never")}
        pred_dtype = dtype if ops.dtype_name(y_pred) != dtype else None
        true_dtype = true_dtype if ops.dtype_name(y_true) != true_dtype else None
        return _Plan(ops, call.frozen() if reused else call, true_shape, pred_shape, pred_dtype, true_dtype,
                     (true_shape, pred_shape, pred_dtype, true_dtype) != (None,) * 4,
                     call.labels and ops.dtype_name(y_true) not in contract.EXACT_INDICES, checks, weighted_checks,
                     guards, native, native_values,
                     {} if reused else None, {} if reused else None, ops.matcher(y_true, y_pred) if reused else None)

    def _check_in_dtype(self, dtype: str):
        """Numbers beyond the compute dtype's range are inf there: Dice's smoothing of 1e39 made
        float32 inputs' loss NaN or -inf where float64's is a number."""
        limit = float(np.finfo(dtype).max)
        for p in self.spec.params:
            if p.in_dtype and abs(self._params[p.name]) > limit:
                raise bad_value(self.spec.name, p.name, f"a number up to {limit:.6g} for inputs computed in {dtype}",
                                f"{self._params[p.name]:.6g}")

    def _params_for(self, ops, like, dtype) -> dict:
        """Parameters, with per-class arrays as tensors of ``like``'s framework, device and dtype
        (once per input signature: the plan keeps them)."""
        params = dict(self._params)
        limit, tiny = float(np.finfo(dtype).max), float(np.finfo(dtype).tiny)
        for k, weights in self._per_class.items():
            each = weights if isinstance(weights, tuple) else (weights,)
            if max(each) > limit:  # it would become inf in the compute dtype, and the loss NaN
                raise bad_value(self.spec.name, k, f"weights up to {limit:.6g} for inputs computed in {dtype}",
                                f"a weight of {max(each):.6g}")
            positive = [w for w in each if w > 0]  # (dynamo takes no min() of a generator)
            lost = min(positive) if positive else tiny
            if lost < tiny:  # 0 or subnormal there (TensorFlow's CPU kernels read 0): a weighted mean of 0 / 0
                raise bad_value(self.spec.name, k, f"weights of 0 or from {tiny:.6g} for inputs computed in "
                                f"{dtype} (a weighted mean does not change when every weight is scaled: "
                                "scale them toward 1)", f"a weight of {lost:.6g}")
            params[k] = ops.asarray(weights, like=like, dtype=dtype)
        return params

    def _check_per_class(self, call, pred_shape):
        for k, weights in self._per_class.items():
            if not isinstance(weights, tuple) or len(weights) == 1 and k in self._one_for_all:
                continue  # a scalar weighs every class
            size = len(weights)
            axis = call.axis if call.axis is not None else len(pred_shape) - 1
            # (a loss without a class axis, BCE, weighs the entries of the last axis)
            per, along = ("class", f"class axis {axis}") if call.axis is not None else ("entry of the last axis",
                                                                                       "last axis")
            if pred_shape and pred_shape[axis] is None:
                raise bad_value(self.spec.name, k, f"one weight per {per}, for y_pred whose {along} has a "
                                f"known size (give it in a graph's input signature)",
                                f"{size} weights and y_pred of shape {pred_shape}")
            if not pred_shape or pred_shape[axis] != size:
                raise bad_value(self.spec.name, k, f"one weight per {per}, {pred_shape[axis] if pred_shape else 1} "
                                f"for y_pred of shape {pred_shape}" + (f" ({along})" if call.axis is not None else ""),
                                f"{size} weight{'s' if size != 1 else ''}")


_CALL_ARGUMENTS = ("y_true", "y_pred", "sample_weight")
# other frameworks' names of a call's arguments (torch's F.* and modules; tf.compat.v1.losses)
_CALL_NAMES = {"input": "y_pred", "target": "y_true", "weights": "sample_weight", "labels": "y_true",
               "predictions": "y_pred", "logits": "y_pred"}


def unknown_keyword(spec: LossSpec, unknown: dict, arguments: tuple, names: dict) -> LossTypeError:
    """The error for a call's keyword that is none of ``arguments``: where it is (or torch
    names) a parameter of the loss, says so; else the nearest argument, or the one another
    framework's ``names`` mean."""
    name = next(iter(unknown))
    parameter = name if name in spec.defaults() else _FRAMEWORK_NAMES.get(name, (None,))[0]  # torch's weight
    if parameter in spec.defaults():
        hint = f"; {parameter!r} is a parameter of the loss, bound when it is made"
    else:
        hint = did_you_mean(name, arguments) or (f"; did you mean {names[name]!r}?" if name in names else "")
    return bad_type(spec.name, name, f"an argument of the call ({', '.join(arguments)})", f"the keyword {name!r}{hint}")


def _chained(first, second):
    """One guard that applies both (either may be None: none)."""
    if first is None or second is None:
        return second if first is None else first
    return lambda result, y_true, y_pred: second(first(result, y_true, y_pred), y_true, y_pred)


def _numbers(weights):
    """A per-class parameter (a float or a 1-D float64 array, ``spec.weights_or_none``) as a
    float or a tuple of floats."""
    return tuple(weights.tolist()) if isinstance(weights, np.ndarray) else weights


def _rebuild(config: dict) -> Loss:
    return get(**config)


_MAX_PLANS = 256  # input signatures remembered per loss (sequence lengths, last batches), oldest out first
_MAX_SHARED = 128  # sets of plans kept for losses bound alike, oldest out first
_SHARED: dict = {}  # (spec's id, reduction, backend, parameters) -> (spec, its plans)
_PLAIN = (type(None), bool, int, float, str)


def _shared_plans(spec: LossSpec, params: dict, reduction: str, backend: str | None, per_class: dict) -> dict:
    """The plans of every loss bound to this spec, reduction, backend and parameters: a plan is
    made from those and the inputs' signature alone, so ``get(...)(y_true, y_pred)`` written
    inside a training step plans once, not on every call (~80 us at 1e3). Parameters other than
    numbers, strings and tuples of numbers (a custom loss's own objects) share nothing."""
    values = {**params, **per_class}  # (per-class arrays as the tuples of floats they bind to)
    if not all(isinstance(v, _PLAIN) or isinstance(v, tuple) and all(isinstance(e, _PLAIN) for e in v)
               for v in values.values()):
        return {}
    # repr tells 1 from 1.0 and True, and 0.0 from -0.0, which == and hash take as equal
    key = (id(spec), reduction, backend, tuple((k, repr(v)) for k, v in values.items()))
    entry = _SHARED.get(key)
    if entry is None or entry[0] is not spec:  # (the spec is kept in the entry: its id is not reused)
        if len(_SHARED) >= _MAX_SHARED:
            _drop_oldest(_SHARED)
        entry = _SHARED[key] = (spec, {})
    return entry[1]


def _drop_oldest(cache: dict) -> None:
    """A bounded cache's oldest entry out. Another thread may add one between iter() and
    next(), which then raises (or empty it): the cache then stays one entry over its bound."""
    try:
        cache.pop(next(iter(cache)), None)
    except (RuntimeError, StopIteration):
        pass


@dataclass(frozen=True)
class _Plan:
    """What a call decides from its inputs' signature (shapes, dtypes, device) alone."""

    ops: object
    call: contract.Call   # the template each call copies
    true_shape: tuple | None  # y_true is reshaped to this (labels without a class axis, (B,1) -> (B,))
    pred_shape: tuple | None  # y_pred likewise (a profile's rank rule, LossSpec.same_rank)
    pred_dtype: str | None    # y_pred is cast to this (the compute dtype) if not None
    true_dtype: str | None    # y_true likewise (int64 for labels)
    converts: bool            # any of the four above is not None
    inexact_labels: bool      # labels int64 does not hold as they are (floats, uint64): contract.label_indices
    checks: dict              # value_checks mode -> contract.value_checker's check, or None
    weighted_checks: dict     # the same for a call with sample_weight (made for native_values)
    guards: dict              # value_checks mode -> contract.label_guard's and shape_guard's guard, or None
    native: object            # the backend's fused kernel for these parameters and inputs, or None
    native_values: object     # its unreduced values ("none"), for a call with sample_weight; or None
    # A mean's divisor (its count, sign folded in) -> the backend's scalar of it: the dtype and
    # device are the signature's, so the number alone is the key (a cheaper ops.scalar). None
    # for a plan that is not reused (a trace's).
    divisors: dict | None
    # A sample_weight's signature (with the values') -> how weight_for made it fit: (the dtype
    # it was cast to, the shape it was reshaped to; None where unchanged). None as divisors.
    weights: dict | None
    # (y_true, y_pred) -> whether they have this plan's signature: a cheaper test than
    # ops.signature and a lookup, asked outside traces. None where the backend has none, or
    # in a trace.
    matches: object


def _as_tensors(loss, ops, y_true, y_pred, sample_weight):
    """Bring NumPy arrays and Python numbers to the framework of the other input, on its device.
    A tensor of another framework is refused (it gets here where ``backend=`` names this one)."""
    for argument, value in (("y_true", y_true), ("y_pred", y_pred), ("sample_weight", sample_weight)):
        if value is None and argument != "sample_weight":
            raise bad_type(loss, argument, "an array, a tensor or a number", "None")
        found = dispatch.framework_of(loss, argument, value)
        if found not in (None, "numpy", ops.name):
            tensors = "" if ops.name == "numpy" else f"{ops.name} tensors, "
            raise bad_type(loss, argument, f"{tensors}NumPy arrays or Python numbers (backend={ops.name!r})",
                           f"a {found} tensor")
        if found is None and value is not None:
            contract.check_plain_real(loss, argument, value)
    if not ops.is_tensor(y_pred):
        like = y_true if ops.is_tensor(y_true) else None
        # Python numbers have no dtype of their own: they take a float y_true's (its compute dtype: not
        # a half type's rounding), as NumPy 2 and torch promote them, and floats otherwise the
        # framework's default (torch.tensor's, tf.constant's)
        numbers = not isinstance(y_pred, np.ndarray)
        dtype = _float_dtype(ops, y_true) if numbers else None
        # through NumPy, as y_true: a list of 0-d arrays or other frameworks' scalars is no torch or TF input
        y_pred = ops.asarray(np.asarray(y_pred), like=like, dtype=dtype)
        if numbers and dtype is None and ops.dtype_name(y_pred) == "float64":  # (NumPy's default, not the framework's)
            y_pred = ops.cast(y_pred, ops.default_float())
    if not ops.is_tensor(y_true):
        y_true = contract.plain_tensor(ops, y_true, y_pred)
    return y_true, y_pred


def _float_dtype(ops, y_true):
    """The compute dtype of y_true's float dtype (a tensor's or NumPy array's), else None."""
    dtype = ops.dtype_name(y_true) if ops.is_tensor(y_true) else getattr(y_true, "dtype", None)
    return contract.COMPUTE_DTYPE.get(getattr(dtype, "name", dtype))  # (a NumPy y_true's np.dtype)


def _weighted(loss, ops, terms: Terms, sample_weight, like, fitted: dict | None = None):
    """The unreduced values times sample_weight. ``fitted``: the plan's ``_Plan.weights``."""
    values = terms.values
    if sample_weight is None:
        return values
    if isinstance(sample_weight, (int, float)) and not isinstance(sample_weight, bool):
        # a Python number multiplies as one: as a tensor it was a constant of a trace, and torch.compile
        # compiled a graph per value (the 9th failed fullgraph=True's recompile limit)
        return values * float(sample_weight)
    sample_weight = ops.current(sample_weight)  # (an eager tf.Variable's declared shape may leave sizes unknown)
    signature = ops.signature(sample_weight, values) if fitted is not None and ops.is_tensor(sample_weight) else None
    key = None if signature is None else (type(sample_weight), signature)  # (a tensor subclass)
    fit = fitted.get(key) if key is not None else None
    if fit is None:
        weight = contract.weight_for(loss, ops, sample_weight, values, like, per_sample=terms.weighted_by_sample)
        if key is not None:
            if len(fitted) >= 16:  # weights whose shapes follow the batch's values: keep a few
                fitted.clear()
            dtype, shape = ops.dtype_name(weight), ops.shape(weight)
            fitted[key] = (dtype if ops.dtype_name(sample_weight) != dtype else None,
                           shape if ops.shape(sample_weight) != shape else None)
        return values * weight
    # a weight of a signature that weight_for took before: its checks pass again, and it is
    # cast and reshaped alike (a 0-d CPU weight still goes to the values' device)
    dtype, shape = fit
    weight = ops.on_device_of(sample_weight, values)
    if dtype is not None:
        weight = ops.cast(weight, dtype)
    return values * (weight if shape is None else ops.reshape(weight, shape))


def _reduce(loss, ops, terms: Terms, sample_weight, reduction, like, divisors: dict, fitted: dict | None = None):
    """none: w*l; sum: sum(w*l); mean: sum(w*l) / count, 0 when the count is 0 (l = scale * values).
    ``divisors``: the plan's ``_Plan.divisors`` (None in a trace: a lookup by a symbolic count
    would make torch.compile(dynamic=True) specialise on it, one graph per shape)."""
    along = terms.along
    if along is not None and (reduction not in ("mean", "sum") or sample_weight is not None):
        terms = terms._replace(values=ops.sum(terms.values, axis=along), along=None)
        along = None
    values = terms.values if sample_weight is None else _weighted(loss, ops, terms, sample_weight, like, fitted)
    scale = terms.scale
    if reduction == "none":
        return _signed(values, scale)
    total = ops.sum(values)
    if reduction == "sum":
        return _signed(total, scale)
    if reduction == "batchmean":  # torch's KL: the sum over the first axis's length
        count = _batch_size(ops, values)
    elif terms.count is not None:
        count = terms.count
    else:
        count = ops.size(values) if divisors is not None else ops.traced_size(values)  # (None: in a trace)
        if along is not None and not (isinstance(count, int) and count == 0):  # (an empty axis: 0 entries)
            count //= ops.length(values, along)
    if isinstance(count, int):
        if count and scale in (1.0, -1.0) and divisors is not None:  # one rounding: a sign folds into -count
            divisor = divisors.get(count * scale)
            if divisor is None:
                if len(divisors) >= 16:  # a loss whose shapes follow its values: keep a few
                    divisors.clear()
                divisor = divisors[count * scale] = ops.scalar(count * scale, total)
            return total / divisor
        if count:  # in a trace, a plain division: ops.div's scalar cache would specialise on the count
            if divisors is not None:
                return ops.div(_signed(total, scale), count)
            # a float in a trace (torch.compile of vmap cannot divide a batched tensor by a symbolic
            # int), an int elsewhere (torch.func's forward mode takes a float as a float64 tangent)
            return _signed(total, scale) / (float(count) if _backends.tracing() else count)
        return total * math.nan if terms.nan_if_empty else total  # an empty sum is 0: its mean is 0 too
    if not ops.is_tensor(count):  # a symbolic size (torch's make_fx, non-strict export): never 0 there
        return total * scale / count
    count = ops.cast(count, ops.dtype_name(total))  # a tensor: a count only known in the graph
    if scale != 1.0:
        total = total * scale
    if terms.nan_if_empty:  # torch's: NaN, also where the total is not 0 (label smoothing at zero weights)
        return ops.where(count == 0, math.nan, ops.ratio_or_zero(total, count))
    return ops.ratio_or_zero(total, count)


def _signed(x, scale: float):
    """scale * x, negated rather than multiplied by -1.0 (torch.func's forward mode takes a
    Python float as a float64 tangent: jvp of x * -1.0 is float64 for float32 x)."""
    return x if scale == 1.0 else -x if scale == -1.0 else x * scale


def _batch_size(ops, values):
    """The length of the first axis (1 for a scalar, as torch's kl_div takes it): "batchmean"'s count."""
    return ops.shape(values)[0] if ops.shape(values) else 1


def _differs(a, b) -> bool:
    try:
        return bool(a != b) if not hasattr(a, "shape") else True
    except ValueError:
        return True


def get(name: str | None = None, /, backend: str | None = None, *, reduction: str = "mean",
        compat: str | None = None, **params) -> Loss:
    """The loss ``name`` with its parameters bound and validated now.

    ``backend``: "numpy" | "torch" | "tensorflow" (or None: inferred per call from the inputs).
    ``reduction``: "mean" (default) | "sum" | "none" (and "batchmean" for compat="torch" KL).
    ``compat``: None (crossloss's semantics) | "torch" | "keras": that framework's own numbers,
    quirks included, with its parameters (see docs/compat.md). ``name`` may come as a keyword
    too, as ``get_config()`` gives it.
    """
    if name is None:
        name = params.pop("name", None)
    spec = registry.lookup(name, caller="get")
    if "name" in params:  # a Keras user's display name (keras.losses.Huber(name="h")), after the loss's own
        raise bad_type(spec.name, "name", "one name, get()'s first argument (a display name is Keras's: "
                       "crossloss.keras.get(..., name=...))", f"{name!r} and name={params['name']!r}")
    if compat is not None:
        from . import compat as profiles
        spec = profiles.lookup(compat, spec.name)
    if not isinstance(reduction, str):
        raise bad_type(spec.name, "reduction", "one of " + ", ".join(map(repr, spec.reductions)), repr(reduction))
    if reduction not in spec.reductions:
        hint = (f"; did you mean {reduction.lower()!r}?" if reduction.lower() in spec.reductions else
                "; did you mean 'mean' (Keras's sum_over_batch_size)?" if reduction == "sum_over_batch_size" else
                did_you_mean(reduction, spec.reductions))
        raise bad_value(spec.name, "reduction", "one of " + ", ".join(map(repr, spec.reductions)), repr(reduction) + hint)
    if backend is not None:
        backend = _backends.canonical(backend, spec.name)
    return Loss(spec, bind(spec, params), reduction, backend)


# Keras's and torch's names of crossloss's parameters, too far from them for did_you_mean: (ours, whose)
_FRAMEWORK_NAMES = {"ignore_class": ("ignore_index", "Keras"), "weight": ("class_weight", "torch")}


def _framework_hint(name: str, known) -> str:
    """Where ``name`` is Keras's or torch's for what crossloss names otherwise (did_you_mean
    would find a name of like spelling instead: Dice's ignore_class, 'per_class'), the hint."""
    ours, whose = _FRAMEWORK_NAMES.get(name, (None, None))
    if ours in known:
        return f"; did you mean {ours!r} ({whose}'s {name})?"
    if name == "weight":  # where no class_weight is: BCE's, which weighs each entry
        return ("; did you mean the call's sample_weight, loss(y_true, y_pred, sample_weight=...) (torch's weight "
                "weighs each entry)?")
    if name == "sample_weight":
        return "; did you mean the call's sample_weight, loss(y_true, y_pred, sample_weight=...)?"
    if name in ("dim", "class_axis") and "axis" in known:
        return "; did you mean 'axis'?"
    if name == "from_logits" and "activation" in known:
        return "; did you mean activation='sigmoid' or activation='softmax' (applied to y_pred first)?"
    return ""


def bind(spec: LossSpec, params: dict, own=("reduction", "backend")) -> dict:
    """Validated parameters with defaults filled in; unknown names get a hint among them and
    ``own``, the keywords of the function that takes them."""
    known = {p.name: p for p in spec.params}
    unknown = [k for k in params if k not in known]
    if unknown:
        name, choices = unknown[0], [*own, *known]
        hint = _framework_hint(name, known) or did_you_mean(name, choices)
        raise bad_type(spec.name, name, f"a parameter of {spec.name} ({', '.join(choices)})",
                       f"{name}={params[name]!r}{hint}")
    bound = {}
    for p in spec.params:
        value = params.get(p.name, p.default)
        if p.check is not None:
            try:
                value = p.check(value)
            except TypeError as error:
                raise bad_type(spec.name, p.name, str(error), repr(value)) from None
            except ValueError as error:
                raise bad_value(spec.name, p.name, str(error), repr(value) + getattr(error, "hint", "")) from None
        bound[p.name] = value
    if spec.check_params is not None:
        _check_combination(spec, params, bound)
    return bound


def _check_combination(spec: LossSpec, given: dict, bound: dict) -> None:
    """``spec.check_params``: crossloss's errors pass as they are; a plain ValueError or
    TypeError, or a False returned, names the loss and the parameters given."""
    got = ", ".join(f"{k}={v!r}" for k, v in given.items()) or "the defaults"
    try:
        accepted = spec.check_params(bound) is not False
    except CrosslossError:
        raise
    except ValueError as error:
        raise bad_value(spec.name, "parameters", str(error) or "a combination check_params accepts", got) from None
    except TypeError as error:
        raise bad_type(spec.name, "parameters", str(error) or "a combination check_params accepts", got) from None
    if not accepted:
        raise bad_value(spec.name, "parameters", "a combination check_params accepts", got)
