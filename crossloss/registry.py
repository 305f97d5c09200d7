"""The registry of loss specs: canonical names, aliases, lookup with nearest-name hints."""
from __future__ import annotations

import difflib

from .contract import RESERVED_NAMES
from .errors import LossValueError, UnknownLossError, bad_value
from .spec import LossSpec, Terms

_specs: dict[str, LossSpec] = {}
_names: dict[str, str] = {}  # canonical names and aliases -> canonical name


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def register(spec: LossSpec, *, replace: bool = False) -> LossSpec:
    """Add a loss. Its name and aliases must be new unless ``replace=True``."""
    if not isinstance(spec, LossSpec):
        raise TypeError(f"register: argument 'spec' expected a LossSpec; got {type(spec).__name__}")
    for p in spec.params:
        if p.name in RESERVED_NAMES and not (p.name == "axis" and spec.class_axis):
            raise bad_value(spec.name, "params", "parameter names that crossloss does not use itself (not "
                            f"{', '.join(sorted(RESERVED_NAMES))}; 'axis' only with class_axis=True)", repr(p.name))
    keys = [_key(spec.name), *map(_key, spec.aliases)]
    if not replace:
        taken = [k for k in keys if k in _names]
        if taken:
            raise LossValueError(f"register: argument 'spec' expected a new name; got '{taken[0]}', "
                                 f"already taken by '{_names[taken[0]]}' (pass replace=True to override)")
    elif spec.name in _specs:
        unregister(spec.name)
    _specs[spec.name] = spec
    for k in keys:
        _names[k] = spec.name
    return spec


def unregister(name: str) -> None:
    spec = lookup(name, caller="unregister")
    del _specs[spec.name]
    for k in [k for k, v in _names.items() if v == spec.name]:
        del _names[k]


def lookup(name: str, caller: str = "spec") -> LossSpec:
    """The spec of a loss name or alias (``crossloss.spec``); ``caller`` names the function in errors."""
    if not isinstance(name, str):
        raise UnknownLossError(f"{caller}: argument 'name' expected a loss name (str); got {type(name).__name__}")
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
         y_pred="values", class_axis=False, none_shape="y_pred's shape", doc="", replace=False):
    """Register the decorated function as a loss: ``fn(call, y_true, y_pred)`` written against
    ``call.ops`` (the op table), returning the unreduced values or a ``Terms``.

    It then dispatches on every backend and gets reductions, sample weights, dtype rules and
    checks from crossloss, and the conformance harness checks it against ``reference``: an
    independent float64 NumPy ``reference(y_true, y_pred, **params)`` returning the unreduced
    loss. Returns the ``LossSpec``.
    """
    def register_function(compute):
        def as_terms(call, true, pred):
            out = compute(call, true, pred)
            return out if isinstance(out, Terms) else Terms(out)
        as_terms.__doc__, as_terms.__name__ = compute.__doc__, compute.__name__
        spec = LossSpec(name, as_terms, formula=formula, none_shape=none_shape, params=tuple(params),
                        aliases=tuple(aliases), y_true=y_true, y_pred=y_pred, class_axis=class_axis,
                        doc=doc or (compute.__doc__ or "").strip(), reference=reference)
        return register(spec, replace=replace)
    return register_function
