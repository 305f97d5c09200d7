"""Settings, for the process or a block of one thread: when values are checked, and whether
native kernels are used.

``value_checks``:
  ``"auto"`` (default) checks input values only where it costs no device synchronisation:
  NumPy arrays and eager CPU tensors. ``"always"`` also reads values back from accelerators
  in eager mode (a host round trip per call, for debugging). ``"never"`` turns checks off.
  Traced code (``torch.compile``, ``tf.function``), ``meta`` tensors and calls on inputs
  that ``torch.func.vmap`` batches are never checked: there are no values to read (torch
  refuses to read a batched tensor back).
``native_kernels``:
  ``True`` (default) lets a backend use a framework's fused loss kernel where its semantics
  equal the spec's; ``False`` forces the generic formula (the conformance harness compares both).
"""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, replace

from .errors import bad_type, bad_value, did_you_mean
from .spec import boolean

_CHECK_MODES = ("auto", "always", "never")


@dataclass(frozen=True)
class Options:
    value_checks: str = "auto"
    native_kernels: bool = True


class _Current(threading.local):
    """The settings in force: every loss call reads ``CURRENT.options`` (an attribute, not a call:
    Dynamo traces it, where it cannot trace a ContextVar's get). The class attribute holds the
    process's settings (``set_options``); a ``with options(...)`` block sets its own thread's
    instance attribute, which shadows them in that thread only. ``blocks``: this thread's open
    blocks' settings, in the order they were entered."""

    options = Options()

    def __init__(self):
        self.blocks = []


CURRENT = _Current()
_PROCESS_WIDE = threading.Lock()  # two set_options at once would each keep the other's old value


def get_options() -> Options:
    return CURRENT.options


def set_options(**changes) -> Options:
    """Change settings for the whole process (every thread outside a ``with options(...)``
    block); returns the previous settings."""
    with _PROCESS_WIDE:
        previous = _Current.options
        _Current.options = _validated(replace(previous, **_known(changes)))
    return previous


@contextlib.contextmanager
def options(**changes):
    """Change settings inside a ``with`` block only, and in this thread only: threads started
    inside it (eager ``MirroredStrategy.run`` runs each replica in one) see the process's.

    Blocks that asyncio tasks or generators hold open across a suspension overlap on one
    thread without nesting: the latest entered is in force while they overlap, and leaving
    one restores the latest of those still open (the process's once none is), so no block
    removes another's setting or leaves its own behind."""
    settings = _validated(replace(CURRENT.options, **_known(changes)))
    blocks = CURRENT.blocks
    blocks.append(settings)
    CURRENT.options = settings
    try:
        yield settings
    finally:
        blocks.pop(max(i for i, open_block in enumerate(blocks) if open_block is settings))
        if blocks:
            CURRENT.options = blocks[-1]
        else:
            del CURRENT.options


def _known(changes: dict) -> dict:
    unknown = set(changes) - set(Options.__dataclass_fields__)
    if unknown:
        name, known = sorted(unknown)[0], sorted(Options.__dataclass_fields__)
        raise bad_type("options", name, f"one of {known}", f"an unknown setting{did_you_mean(name, known)}")
    return changes


def _validated(opts: Options) -> Options:
    """Type errors as ``get()`` raises them for parameters: a wrong type is a TypeError, a
    wrong string a ValueError. A NumPy bool is a bool."""
    if not isinstance(opts.value_checks, str):
        raise bad_type("options", "value_checks", f"one of {_CHECK_MODES}", repr(opts.value_checks))
    if opts.value_checks not in _CHECK_MODES:
        raise bad_value("options", "value_checks", f"one of {_CHECK_MODES}",
                        repr(opts.value_checks) + did_you_mean(opts.value_checks, _CHECK_MODES))
    try:
        native = boolean(opts.native_kernels)
    except TypeError as error:
        raise bad_type("options", "native_kernels", str(error), repr(opts.native_kernels)) from None
    return replace(opts, native_kernels=native)
