"""What a parity run takes: loss, backend and dtype names, resolved (aliases and duplicates
once) or refused before any check runs, by the CLI, ``check()`` and ``assert_backends_agree()``
alike. An error names the argument (``check: argument 'dtypes'``; ``--dtypes:`` for the
CLI), what was expected, what came and the nearest name. A str is one name; an empty
selection is refused (it would check nothing and pass).
"""
from __future__ import annotations

import numpy as np

import crossloss
from crossloss.errors import LossTypeError, LossValueError, UnknownLossError, describe, did_you_mean

from .frameworks import DTYPES, framework
from .harness import reference_for

CLI = "crossloss-parity"
DTYPE_ORDER = ("float64", "float32", "float16", "bfloat16")


def label(caller: str, argument: str) -> str:
    """How errors name an argument: "check: argument 'dtypes'", or "--dtypes:" on the command line."""
    return f"--{argument}:" if caller == CLI else f"{caller}: argument '{argument}'"


def names(given, caller: str, argument: str) -> list:
    """``given`` as a list of names: a str is one name; anything but names is a LossTypeError."""
    if isinstance(given, str):
        return [given]
    try:
        values = list(given)
    except TypeError:
        values = None
    if values is None or isinstance(given, dict) or not all(isinstance(v, str) for v in values):
        raise LossTypeError(f"{label(caller, argument)} expected names (a list or tuple of str, or one name as a "
                            f"str); got {describe(given)}")
    return values


def pick(caller: str, argument: str, given, choices, resolve, near=None, why="", error=LossValueError,
         many=True) -> list:
    """The names in ``given`` as ``resolve`` (which raises KeyError or ValueError on an unknown
    name) resolves them, each once; an error at the first it refuses, or at an empty selection."""
    expected = f"{'one or more of' if many else 'one of'} {', '.join(choices)}{why}" + \
        (", comma-separated" if caller == CLI else "")
    values = names(given, caller, argument)
    if not values:
        raise LossValueError(f"{label(caller, argument)} expected {expected}; got none")
    resolved = []
    for value in values:
        try:
            resolved.append(resolve(value))
        except (KeyError, ValueError):
            hint = did_you_mean(value.lower(), near or choices)
            raise error(f"{label(caller, argument)} expected {expected}; got {value!r}{hint}") from None
    return list(dict.fromkeys(resolved))


def losses(given, caller: str, argument: str = "losses") -> list[str]:
    """Canonical loss names (None: every registered loss); a loss without a reference is refused."""
    registered = crossloss.list_losses()
    if given is None:
        chosen = registered
    else:
        aliases = [n for name in registered for n in (name, *crossloss.spec(name).aliases)]
        chosen = pick(caller, argument, given, registered, lambda name: crossloss.spec(name).name, near=aliases,
                      error=UnknownLossError, many=argument != "name")
    for name in chosen:
        reference_for(name, caller=f"--{argument}" if caller == CLI else caller)
    return chosen


def loss(name, caller: str) -> str:
    """One loss (the ``name`` argument), canonical, with a reference."""
    if not isinstance(name, str):
        raise LossTypeError(f"{label(caller, 'name')} expected a loss name (str); got {describe(name)}")
    return losses(name, caller, "name")[0]


def backends(given, caller: str) -> list[str]:
    """Canonical backend names (None: every installed backend)."""
    if given is None:
        return crossloss.available_backends()
    known = [b.name for b in crossloss.backends.known_backends()]
    return pick(caller, "backends", given, known, crossloss.backends.canonical)


def dtypes(given, backends: list[str], caller: str) -> list[str]:
    """The dtypes to run (None: every one that one of ``backends`` runs)."""
    run = [d for d in DTYPE_ORDER if any(d in DTYPES[framework(b)] for b in backends)]
    if given is None:
        return run
    return pick(caller, "dtypes", given, run, {d: d for d in run}.__getitem__, why=f" (run by {', '.join(backends)})")


def flag(value, caller: str, argument: str) -> bool:
    """``value`` as a bool: True or False (NumPy's too), nothing that is only truthy."""
    if not isinstance(value, (bool, np.bool_)):
        raise LossTypeError(f"{label(caller, argument)} expected True or False; got {describe(value)}")
    return bool(value)
