"""crossloss: every loss specified once, run natively on NumPy, PyTorch and TensorFlow.

    >>> import crossloss
    >>> loss = crossloss.get("huber", delta=2.0)
    >>> loss(y_true, y_pred, sample_weight=w)      # backend inferred from the inputs

Importing crossloss imports no framework; a backend's framework is imported on first use.
"""
from . import losses as _builtin_losses  # noqa: F401  (registers the built-in losses)
from .backends import available_backends, register_backend
from .core import Loss, get
from .errors import (BackendUnavailableError, CrosslossError, LossTypeError, LossValueError,
                     UnknownLossError)
from .options import get_options, options, set_options
from .registry import list_losses, loss, lookup as spec, register, unregister
from .spec import LOG_FLOOR, LossSpec, Param, Terms

__version__ = "0.1.0"


def __getattr__(name):
    """``crossloss.torch``, ``.keras``, ``.conformance``, ``.testing`` and ``.distributed`` load on first
    use: the adapters import their framework."""
    if name in ("torch", "keras", "conformance", "testing", "distributed"):
        import importlib
        return importlib.import_module(f"crossloss.{name}")
    raise AttributeError(f"module 'crossloss' has no attribute {name!r}")

__all__ = [
    "get", "spec", "list_losses", "available_backends", "register", "unregister", "loss",
    "register_backend", "Loss", "LossSpec", "Param", "Terms", "LOG_FLOOR",
    "options", "set_options", "get_options", "CrosslossError", "LossValueError",
    "LossTypeError", "UnknownLossError", "BackendUnavailableError",
]
