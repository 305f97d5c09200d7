"""Which backend runs a call: ``backend=`` if given, else the inputs' framework.

Only frameworks already imported (in ``sys.modules``) are asked about a type, and the
answer is cached per type, so dispatch never imports torch or TensorFlow.
"""
from __future__ import annotations

import numbers
import sys

import numpy as np

from . import backends as _backends_pkg  # crossloss.backends: loads backend modules lazily
from .errors import LossTypeError, bad_type

_PLAIN = (np.ndarray, np.generic, numbers.Number, list, tuple)
_type_cache: dict[type, str] = {}
_module_of_type: dict[type, object] = {}  # fast path of backend_for


def _backend_of(value) -> str | None:
    kind = type(value)
    name = _type_cache.get(kind)
    if name is None:
        for info in _backends_pkg.known_backends():
            if info.name != "numpy" and info.framework in sys.modules:
                if _backends_pkg.load(info.name).OPS.is_tensor(value):
                    name = _type_cache[kind] = info.name
                    break
    return name


def backend_for(loss: str, y_true, y_pred, sample_weight=None):
    """The backend module of the framework tensors among the inputs; NumPy if there are none."""
    module = _module_of_type.get(type(y_pred))
    if module is not None and type(y_true) is type(y_pred) and sample_weight is None:
        return module  # the common case: one framework's tensors, seen before
    return _backends_pkg.load(infer_backend(loss, y_true, y_pred, sample_weight))


def remember(name: str, module) -> None:
    """Map a backend's own array type (its ``OPS.tensor_types[0]``) to it when it loads, before
    any call: a first call inside torch.compile, or an eager call between compiled ones, then
    adds no entry to the cache, which dynamo guards on (a change recompiles the graph)."""
    if module.OPS.tensor_types:
        _module_of_type.setdefault(module.OPS.tensor_types[0], module)
    if name != "numpy":  # likewise the type cache that a NumPy input's dispatch reads (_backend_of)
        for kind in module.OPS.tensor_types:
            _type_cache.setdefault(kind, name)


def framework_of(loss: str, argument: str, value) -> str | None:
    """The backend name of a framework tensor; None for NumPy arrays, Python numbers and None."""
    if value is None or isinstance(value, _PLAIN):
        return None
    name = _backend_of(value)
    if name is None:
        raise bad_type(loss, argument, "a NumPy array, a Python number or a tensor of a "
                       "registered framework", f"an object of type {type(value).__module__}.{type(value).__name__}")
    return name


def infer_backend(loss: str, y_true, y_pred, sample_weight=None) -> str:
    """The name of the backend of the framework tensors among the inputs; "numpy" if none."""
    found = found_arg = None
    for argument, value in (("y_pred", y_pred), ("y_true", y_true), ("sample_weight", sample_weight)):
        name = framework_of(loss, argument, value)
        if name is None:
            continue
        if found is not None and name != found:
            raise LossTypeError(f"{loss}: argument '{argument}' expected a {found} tensor like "
                                f"'{found_arg}' (frameworks cannot be mixed); got a {name} tensor")
        found, found_arg = name, argument
    name = found or "numpy"
    # the type maps to the backend its own inputs chose: NumPy arrays with a torch weight are
    # torch's for that call only
    if type(y_pred) is type(y_true) and found_arg != "sample_weight" and (found or isinstance(y_pred, np.ndarray)):
        _module_of_type[type(y_pred)] = _backends_pkg.load(name)
    return name
