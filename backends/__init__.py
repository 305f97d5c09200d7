"""Backend registry (installed as ``crossloss.backends``).

A backend is one module exposing ``OPS`` (an ``crossloss.ops.Ops`` instance) and ``NATIVE``
(loss name -> ``choose(call, reduction, y_pred)``, which picks once per input signature a
fused kernel with the spec's semantics, ``kernel(call, y_true, y_pred)`` returning the reduced
loss or None for the generic formula, or returns None itself; a kernel with
``covers_pred = True`` is run on unread y_pred: it raises IndexError or RuntimeError on
probabilities outside [0, 1], or reads its own result instead of the logits' range; where
the checks run, integer labels reach a kernel read: only the formula's gathers are trusted to
refuse them, and a kernel with a ``skipped_label``, which raises on every label out of [0, C)
but that one (a negative number, or the loss's ignore_index), gets labels whose minimum was
read where their dtype can hold it (and it is no ignore_index); the unreduced kernel of
a loss of labels weighs its values by a sample_weight only with ``counts_every_entry = True``,
where the mean leaves no label out). A backend whose
traces run crossloss's Python and guard on what it reads (torch.compile) defines ``TRACING``
too, () -> True inside such a trace. Modules are imported lazily, so ``import crossloss``
imports no framework.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass

from crossloss.errors import BackendUnavailableError, LossTypeError, LossValueError, did_you_mean


@dataclass(frozen=True)
class BackendInfo:
    name: str
    module: str      # module with OPS and NATIVE
    framework: str   # top-level package it needs
    extra: str | None = None  # pip extra that installs it


_backends: dict[str, BackendInfo] = {}
_aliases = {"np": "numpy", "pt": "torch", "pytorch": "torch", "tf": "tensorflow"}
_loaded: dict[str, object] = {}


def _never() -> bool:
    return False


# () -> True inside a trace that runs crossloss's Python and guards on the state it reads
# (a loaded backend's TRACING): there a loss reads no plan that a later eager call replaces.
tracing = _never


def register_backend(name: str, module: str, framework: str, extra: str | None = None) -> None:
    """Register a (third-party) backend: ``module`` must define ``OPS`` and may define ``NATIVE``."""
    _backends[name] = BackendInfo(name, module, framework, extra)
    _loaded.pop(name, None)


register_backend("numpy", "crossloss.backends.numpy", "numpy")
register_backend("torch", "crossloss.backends.torch", "torch", extra="torch")
register_backend("tensorflow", "crossloss.backends.tensorflow", "tensorflow", extra="tensorflow")


def canonical(name: str, caller: str = "get") -> str:
    """A backend's name from a name or alias, in any case ("Torch", as loss names are taken).
    ``caller``: what errors name (the loss that asked)."""
    if not isinstance(name, str):
        raise LossTypeError(f"{caller}: argument 'backend' expected one of {sorted(_backends)} (a str); got {name!r}")
    for key in (name, name.strip().lower()):
        key = _aliases.get(key, key)
        if key in _backends:
            return key
    raise LossValueError(f"{caller}: argument 'backend' expected one of {sorted(_backends)}; got {name!r}"
                         + did_you_mean(name.lower(), [*_backends, *_aliases]))


def available_backends() -> list[str]:
    """Backends whose framework is installed (found without importing it)."""
    return sorted(n for n, b in _backends.items() if importlib.util.find_spec(b.framework) is not None)


def load_imported() -> None:
    """Load the backend of every framework already imported: a loss's first call may be inside
    torch.compile, which cannot trace an import (crossloss.get calls this)."""
    for info in _backends.values():
        if info.name not in _loaded and info.framework in sys.modules:
            load(info.name)


def known_backends() -> list[BackendInfo]:
    return list(_backends.values())


def load(name: str, caller: str | None = None):
    """The backend module (with ``OPS`` and ``NATIVE``), importing its framework now; errors
    name ``caller`` (the loss that asked) where one is given."""
    name = canonical(name, caller or "load")
    module = _loaded.get(name)
    if module is None:
        info = _backends[name]
        try:
            importlib.import_module(info.framework)
        except ImportError as error:
            hint = f"pip install 'crossloss[{info.extra}]'" if info.extra else f"pip install {info.framework}"
            asker = f"{caller}: argument 'backend' ({name!r})" if caller else f"backend '{name}'"
            raise BackendUnavailableError(
                f"{asker} expected the package '{info.framework}' to be installed; got "
                f"ImportError ({error}). Install it with: {hint}") from error
        module = _loaded[name] = importlib.import_module(info.module)
        from crossloss import dispatch  # (it imports this package)
        dispatch.remember(name, module)
        if hasattr(module, "TRACING"):
            global tracing
            tracing = module.TRACING
    return module
