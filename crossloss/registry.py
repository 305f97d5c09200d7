"""The registry of loss specs: canonical names, aliases, lookup with nearest-name hints."""
from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
import keyword

from .contract import RESERVED_NAMES
from .errors import LossTypeError, LossValueError, UnknownLossError, bad_type, bad_value, did_you_mean
from .spec import (DENSE_OR_LABELS, LABELS, LOG_PROBABILITIES, LOGITS, PROBABILITIES, VALUES, LossSpec, Param,
                   Terms, axis, weights_or_none)

_KINDS = (VALUES, LOGITS, PROBABILITIES, LOG_PROBABILITIES, LABELS, DENSE_OR_LABELS)
_REDUCTIONS = ("mean", "sum", "none", "batchmean")
# get()'s and a call's own keywords: a parameter of these names could never be passed
_CALL_NAMES = frozenset({"name", "backend", "reduction", "compat", "y_true", "y_pred", "sample_weight"})

_specs: dict[str, LossSpec] = {}
_names: dict[str, str] = {}  # canonical names and aliases -> canonical name
_BUILT_IN: set[str] = set()  # crossloss's own losses (crossloss.losses): never replaced or unregistered


def _identifier(name) -> bool:
    return isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def register(spec: LossSpec, *, replace: bool = False) -> LossSpec:
    """Add a loss. Its name and aliases must be new unless ``replace=True``, which replaces a
    loss of the same name registered before (not a built-in one, and no other loss's alias)."""
    if not isinstance(spec, LossSpec):
        raise bad_type("register", "spec", "a LossSpec", type(spec).__name__)
    if callable(spec.compute):
        spec = dataclasses.replace(spec, compute=_returning_terms(spec.compute))
    return _added(spec, replace, "register")


def _returning_terms(compute):
    """A user's compute, whose unreduced values (or Terms) come back as Terms, as the built-ins' do."""
    if getattr(compute, "returns_terms", False):
        return compute

    def as_terms(call, y_true, y_pred):
        out = compute(call, y_true, y_pred)
        return out if isinstance(out, Terms) else Terms(out)
    functools.update_wrapper(as_terms, compute)  # (its name and module: a reloaded module re-registers)
    as_terms.returns_terms = True
    return as_terms


def register_built_in(spec: LossSpec) -> None:
    """Add one of crossloss's own losses (crossloss.losses): never replaced or unregistered."""
    _added(spec, False, "register")
    _BUILT_IN.add(spec.name)


def _added(spec: LossSpec, replace: bool, caller: str) -> LossSpec:
    """``register``; ``caller`` names the function in errors: ``register``'s argument is the
    spec, ``loss``'s the name or the aliases (whichever is taken)."""
    spec = _checked(spec)
    keys = [_key(spec.name), *map(_key, spec.aliases)]
    if not replace and _same_function(_specs.get(spec.name), spec):
        replace = True  # its module loaded again (importlib.reload, autoreload): the new definition wins
    taken = [k for k in keys if k in _names and (not replace or _names[k] != spec.name or spec.name in _BUILT_IN)]
    if taken:
        owner = _names[taken[0]]
        how = ("crossloss's own loss cannot be replaced" if owner in _BUILT_IN else
               "pass replace=True to override" if owner == spec.name else "replace=True replaces only a loss of the same name")
        argument = "spec" if caller == "register" else "name" if taken[0] == keys[0] else "aliases"
        raise LossValueError(f"{caller}: argument '{argument}' expected a new name; got '{taken[0]}', already taken by "
                             f"'{owner}' ({how})")
    if spec.name in _specs:
        unregister(spec.name)
    _specs[spec.name] = spec
    for k in keys:
        _names[k] = spec.name
    return spec


def _with_default_checks(spec: LossSpec) -> LossSpec:
    """A class axis and per-class weights without a check of their own take the built-ins':
    a bad axis, or weights as a list or tensor, then fail at get() by name, not inside a call."""
    defaults = {p.name: axis if p.name == "axis" else weights_or_none for p in spec.params
                if isinstance(p, Param) and p.check is None and (p.name == "axis" or p.per_class)}
    if not defaults:
        return spec
    return dataclasses.replace(spec, params=tuple(dataclasses.replace(p, check=defaults[p.name]) if p.name in defaults
                                                  else p for p in spec.params))


def _same_function(old: LossSpec | None, new: LossSpec) -> bool:
    """Both specs compute with a module-level function of the same module and name (crossloss.loss's
    wrapper carries its function's): a reload. Lambdas and functions nested in a factory share
    their qualified names ('<lambda>', 'factory.<locals>.compute') with others, so never match."""
    def where(spec):
        return getattr(spec.compute, "__module__", None), getattr(spec.compute, "__qualname__", None)
    module, name = where(new)
    return old is not None and module is not None and isinstance(name, str) and "<" not in name \
        and where(old) == (module, name)


def _checked(spec: LossSpec) -> LossSpec:
    """The spec as registered (with ``_with_default_checks``); refuse one that could not work,
    at registration rather than at a later call."""
    if not _identifier(spec.name):
        raise bad_value("register", "name", "a loss name that is a Python identifier and no keyword (e.g. "
                        "'log_cosh_error')", repr(spec.name))
    loss = spec.name
    if isinstance(spec.aliases, str) or not all(map(_identifier, spec.aliases)):
        raise bad_type(loss, "aliases", "a tuple of names, each a Python identifier and no keyword (a bare string "
                       "is not one)", repr(spec.aliases))
    if len(set(map(_key, (loss, *spec.aliases)))) != len(spec.aliases) + 1:
        raise bad_value(loss, "aliases", "names other than the loss's own, each once", repr(spec.aliases))
    if not callable(spec.compute):
        raise bad_type(loss, "compute", "a function (call, y_true, y_pred) -> values or Terms", repr(spec.compute))
    for argument in ("formula", "none_shape"):
        if not isinstance(getattr(spec, argument), str):
            raise bad_type(loss, argument, "text", repr(getattr(spec, argument)))
    if spec.reference is not None and not callable(spec.reference):
        raise bad_type(loss, "reference", "None or a function (y_true, y_pred, **params) -> the unreduced loss",
                       repr(spec.reference))
    for argument in ("y_true", "y_pred"):
        kind = getattr(spec, argument)
        if not (callable(kind) or kind in _KINDS):
            raise bad_value(loss, argument, f"one of {', '.join(map(repr, _KINDS))} or a function of the parameters",
                            repr(kind) + did_you_mean(str(kind), _KINDS))
    if spec.y_pred in (LABELS, DENSE_OR_LABELS):
        raise bad_value(loss, "y_pred", "a kind of prediction (labels are targets: y_true)", repr(spec.y_pred))
    if spec.y_true in (LABELS, DENSE_OR_LABELS) and not spec.class_axis:
        raise bad_value(loss, "y_true", "a kind that needs no class axis, or class_axis=True (labels index one)",
                        repr(spec.y_true))
    if not spec.reductions or not set(spec.reductions) <= set(_REDUCTIONS):
        raise bad_value(loss, "reductions", f"some of {', '.join(map(repr, _REDUCTIONS))}", repr(spec.reductions))
    spec = _with_default_checks(spec)  # first: defaults and parameter sets pass the checks get() applies
    _check_params(spec)
    if spec.class_axis and "axis" not in {p.name for p in spec.params}:
        raise bad_value(loss, "params", "Param('axis', -1, ...) for a loss with class_axis=True (its class axis)",
                        f"no 'axis' among {[p.name for p in spec.params]}")
    _check_parameter_sets(spec)
    if spec.reference is not None:
        try:
            signature = inspect.signature(spec.reference)
        except (TypeError, ValueError):  # a builtin without a signature: left to the harness
            return spec
        try:
            signature.bind(None, None, **spec.defaults())
        except TypeError as error:
            raise bad_type(loss, "reference", "a function (y_true, y_pred, **params) taking every parameter "
                           f"({', '.join(spec.defaults()) or 'none'})", f"one that cannot: {error}") from None
    return spec


def _check_params(spec: LossSpec) -> None:
    names = []
    for p in spec.params:
        if not isinstance(p, Param):
            raise bad_type(spec.name, "params", "Param(name, default, doc, check) objects", repr(p))
        if not _identifier(p.name):  # it could only be passed as **{name: value}
            raise bad_value(spec.name, "params", "parameter names that are Python identifiers and no keyword",
                            repr(p.name))
        if p.name in names:
            raise bad_value(spec.name, "params", "distinct parameter names", f"{p.name!r} twice")
        names.append(p.name)
        if p.name == "axis" and not spec.class_axis:
            raise bad_value(spec.name, "params", "'axis' only with class_axis=True (it is the class axis)", "'axis'")
        if p.name in _CALL_NAMES or p.name in RESERVED_NAMES and p.name != "axis":
            raise bad_value(spec.name, "params", "parameter names that crossloss does not use itself (not "
                            f"{', '.join(sorted((RESERVED_NAMES | _CALL_NAMES) - {'axis'}))})", repr(p.name))
        if p.check is not None:
            try:
                p.check(p.default)
            except (TypeError, ValueError) as error:
                raise bad_value(spec.name, "params", f"defaults that pass their own check ({p.name}: {error})",
                                f"{p.name}={p.default!r}") from None


def _check_parameter_sets(spec: LossSpec) -> None:
    checks = {p.name: p.check for p in spec.params}
    for params in spec.parameter_sets:
        unknown = [k for k in params if k not in checks] if isinstance(params, dict) else None
        if unknown is None or unknown:
            raise bad_value(spec.name, "parameter_sets", f"dicts of its parameters ({', '.join(checks) or 'none'})",
                            repr(params))
        for k, value in params.items():
            try:
                if checks[k] is not None:
                    checks[k](value)
            except (TypeError, ValueError) as error:
                raise bad_value(spec.name, "parameter_sets", f"values that pass their parameter's check ({k}: {error})",
                                f"{k}={value!r}") from None


def unregister(name: str) -> None:
    """Remove a loss registered by ``register`` (by its own name; crossloss's own stay)."""
    spec = lookup(name, caller="unregister")
    if spec.name in _BUILT_IN or _key(name) != _key(spec.name):
        raise bad_value("unregister", "name", "the name of a loss registered with crossloss.register (not an "
                        "alias, and not one of crossloss's own)", repr(name))
    del _specs[spec.name]
    for k in [k for k, v in _names.items() if v == spec.name]:
        del _names[k]


def lookup(name: str, caller: str = "spec") -> LossSpec:
    """The spec of a loss name or alias (``crossloss.spec``); ``caller`` names the function in errors."""
    if not isinstance(name, str):
        raise LossTypeError(f"{caller}: argument 'name' expected a loss name (str); got {type(name).__name__}")
    canonical = _names.get(_key(name))
    if canonical is None:
        near = difflib.get_close_matches(_key(name), list(_names), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(_names[n]) if _names[n] == n else f'{n!r} ({_names[n]})' for n in near)}?" if near else ""
        raise UnknownLossError(f"{caller}: argument 'name' expected a registered loss name; got {name!r}{hint} "
                               f"(crossloss.list_losses() lists them)")
    return _specs[canonical]


def list_losses() -> list[str]:
    return sorted(_specs)


def loss(name: str, *, formula: str, reference=None, params=(), aliases=(), y_true="values",
         y_pred="values", class_axis=False, none_shape="y_pred's shape", doc="", parameter_sets=(),
         replace=False, **fields):
    """Register the decorated function as a loss: ``fn(call, y_true, y_pred)`` written against
    ``call.ops`` (the op table), returning the unreduced values or a ``Terms``.

    It then dispatches on every backend and gets reductions, sample weights, dtype rules and
    checks from crossloss, and the conformance harness checks it against ``reference``: an
    independent float64 NumPy ``reference(y_true, y_pred, **params)`` returning the unreduced
    loss (or it and the count its mean divides by), at the default parameters and at each of
    ``parameter_sets`` (dicts of parameters). ``fields``: ``LossSpec``'s others by name
    (``check_params``, ``values_per_entry``, ...).
    Returns the ``LossSpec``.
    """
    others = sorted({f.name for f in dataclasses.fields(LossSpec)} - {"name", "compute", "compat", "extra"})
    unknown = sorted(set(fields) - set(others))
    if unknown:
        raise bad_type(name, unknown[0], f"a field of LossSpec ({', '.join(others)})",
                       f"the keyword {unknown[0]!r}{did_you_mean(unknown[0], others)}")

    def register_function(compute):
        if not callable(compute):
            raise bad_type(name, "compute", "a function (call, y_true, y_pred) -> values or Terms, decorated "
                           "by crossloss.loss", repr(compute))

        spec = LossSpec(name, _returning_terms(compute), formula=formula, none_shape=none_shape, params=tuple(params),
                        aliases=aliases if isinstance(aliases, str) else tuple(aliases),  # (a str is refused)
                        y_true=y_true, y_pred=y_pred, class_axis=class_axis,
                        doc=doc or (compute.__doc__ or "").strip(), reference=reference,
                        parameter_sets=tuple(parameter_sets), **fields)
        return _added(spec, replace, "loss")
    return register_function
