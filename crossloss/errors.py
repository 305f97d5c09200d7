"""Errors raised by crossloss.

Every error subclasses both ``CrosslossError`` and the builtin a caller would catch
(``ValueError``, ``TypeError``, ``KeyError``, ``ImportError``), and its message names the
loss, the argument, what was expected and what came.
"""
from __future__ import annotations

import difflib


class CrosslossError(Exception):
    """Base class of every error crossloss raises on purpose."""

    # Exception's own constructor, found before the builtin's: tf.function's autograph rebuilds
    # an error that crosses converted code only if its type takes Exception's __init__ or is a
    # builtin (tensorflow/python/autograph/pyct/error_utils.py, create_exception); any other
    # type reached the caller as autograph's StagingError, which `except LossValueError` misses.
    __init__ = Exception.__init__


class LossValueError(CrosslossError, ValueError):
    """An argument has the right type but a wrong value or shape."""


class LossTypeError(CrosslossError, TypeError):
    """An argument has the wrong type, or tensors of two frameworks were mixed."""


class UnknownLossError(CrosslossError, KeyError):
    """No loss is registered under the name; the message lists the nearest names."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0]) if self.args else ""


class BackendUnavailableError(CrosslossError, ImportError):
    """The framework a backend needs is not installed."""


def did_you_mean(name: str, choices) -> str:
    """"; did you mean 'x'?" for the nearest of ``choices`` to ``name``, or ""."""
    near = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6) if isinstance(name, str) else []
    return f"; did you mean {near[0]!r}?" if near else ""


def describe(value) -> str:
    """A short description of a value for an error message."""
    shape = getattr(value, "shape", None)
    if shape is not None and getattr(value, "dtype", None) is not None:
        known = getattr(shape, "rank", 0) is not None  # (a TensorFlow graph's shape may have no rank)
        return f"{type(value).__name__} of shape {tuple(shape) if known else 'unknown'} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def bad_value(loss: str, argument: str, expected: str, got) -> LossValueError:
    """``LossValueError`` with the project's message format."""
    got_text = got if isinstance(got, str) else describe(got)
    return LossValueError(f"{loss}: argument '{argument}' expected {expected}; got {got_text}")


def bad_type(loss: str, argument: str, expected: str, got) -> LossTypeError:
    """``LossTypeError`` with the project's message format."""
    got_text = got if isinstance(got, str) else describe(got)
    return LossTypeError(f"{loss}: argument '{argument}' expected {expected}; got {got_text}")
