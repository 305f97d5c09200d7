"""``python -m crossloss.conformance`` (also ``crossloss-parity``): the parity report.

Runs every selected loss on every installed backend against the float64 reference and prints
a table; exits with 1 on any disagreement, and with 2 on a usage error: a loss, backend, dtype
or format it does not know, or an --output it cannot write (found before any work where it
can be).
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import time

import crossloss
from crossloss.errors import did_you_mean

from . import harness, report
from .frameworks import DTYPES, run_labels

FORMATS = ("text", "json", "markdown", "junit", "html")


def _list(text):
    return [item.strip() for item in text.split(",") if item.strip()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="crossloss-parity", description=__doc__.splitlines()[0])
    parser.add_argument("--backends", type=_list, help="comma-separated (default: every installed one)")
    parser.add_argument("--import", dest="modules", type=_list, default=[], metavar="MODULES",
                        help="comma-separated modules to import first: those that register your own losses")
    parser.add_argument("--losses", type=_list, help="comma-separated names or aliases (default: all)")
    parser.add_argument("--dtypes", type=_list, help="comma-separated, e.g. float32,float64 (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="random cases, the 'mean' reduction, no gradient, trace or compat checks (under 30 s)")
    parser.add_argument("--format", type=_list, default=["text"],
                        help="text, json, markdown, junit, html; several: text,junit,html (default: text)")
    parser.add_argument("--output", help="a file (one non-text format) or a folder for parity.<ext> files; "
                                         "default: standard output for one format, reports/ for several")
    parser.add_argument("--no-gradients", action="store_true", help="skip the gradient checks")
    parser.add_argument("--no-traces", action="store_true", help="skip torch.compile / meta / tf.function checks")
    parser.add_argument("--no-compat", action="store_true", help="skip compat='torch' / 'keras' against the frameworks")
    args = parser.parse_args(argv)

    # Every selection is checked before any work; a bad one is a usage error (exit status 2).
    for module in args.modules:  # users' losses register as their module loads
        try:
            importlib.import_module(module)
        except ImportError as error:
            parser.error(f"--import: expected importable modules (that register losses); got {module!r}: {error}")
    specs = [crossloss.spec(name) for name in crossloss.list_losses()]
    _check(parser, "--losses", args.losses, [s.name for s in specs], _resolves(crossloss.spec),
           names=[name for s in specs for name in (s.name, *s.aliases)])
    losses = args.losses and list(dict.fromkeys(crossloss.spec(name).name for name in args.losses))  # (an alias once)
    _check(parser, "--backends", args.backends, [b.name for b in crossloss.backends.known_backends()],
           _resolves(crossloss.backends.canonical))
    backends = list(dict.fromkeys(crossloss.backends.canonical(b) for b in args.backends or crossloss.available_backends()))
    dtypes = [d for d in ("float64", "float32", "float16", "bfloat16") if any(d in DTYPES[b] for b in backends)]
    _check(parser, "--dtypes", args.dtypes, dtypes, dtypes.__contains__, why=f" (run by {', '.join(backends)})")
    _check(parser, "--format", args.format, FORMATS, FORMATS.__contains__)
    renderers = {"text": (report.text, "txt"), "json": (report.as_json, "json"), "markdown": (report.markdown, "md"),
                 "junit": (lambda r, b: report.junit(r), "xml"), "html": (report.html_page, "html")}
    # the terminal table goes to standard output, unless it is the one format and --output names a file
    files = args.format if args.output is not None and args.format == ["text"] else [f for f in args.format if f != "text"]
    targets = {fmt: _target(args.output, renderers[fmt][1], single=len(files) == 1) for fmt in files}
    for target in filter(None, targets.values()):
        why = _unwritable(target)
        if why:
            parser.error(f"--output: expected a file to write (one format) or a folder for parity.<ext> files; "
                         f"got {args.output!r}: {target} {why}")
    for backend in backends:
        try:
            crossloss.backends.load(backend)
        except ImportError as error:  # crossloss's message names the pip extra to install
            if args.backends:
                parser.error(f"--backends: expected installed backends ({', '.join(crossloss.available_backends())}); "
                             f"got {backend!r}: {error}")
            parser.error(f"expected every installed framework to import (without --backends, each is run); "
                         f"got {backend!r}, which is installed but failed: {error}")
    started = time.perf_counter()
    interactive = sys.stderr.isatty()

    def progress(done, total, label):
        if interactive:
            print(f"\r[{done + 1}/{total}] {label:<60}", end="", file=sys.stderr, flush=True)

    results = harness.run(losses, backends, args.dtypes, reductions=("mean",) if args.quick else harness.REDUCTIONS,
                          edges=not args.quick, progress=progress, gradients=not (args.quick or args.no_gradients),
                          traces=not (args.quick or args.no_traces), compat=not (args.quick or args.no_compat))
    if interactive:
        print("\r" + " " * 80 + "\r", end="", file=sys.stderr)
    backends = [label for backend in backends for label in run_labels(backend)]  # a CUDA column if torch sees one
    if "text" in args.format and "text" not in files:
        print(report.text(results, backends))
        print(f"({time.perf_counter() - started:.1f} s, backends: {', '.join(backends)})")
    for fmt, target in targets.items():
        rendered = renderers[fmt][0](results, backends)
        if target is None:
            print(rendered)
            continue
        try:
            os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
            with open(target, "w", encoding="utf-8") as handle:
                handle.write(rendered)
        except OSError as error:  # found only now (e.g. a read-only file system): not a disagreement
            print(f"crossloss-parity: error: --output: could not write {target}: {error}", file=sys.stderr)
            return 2
        print(f"wrote {target}", file=sys.stderr)
    return 0 if all(r.passed for r in results) else 1


def _check(parser, option, given, choices, accepts, names=None, why=""):
    """A usage error at the first value of ``given`` (None: the default, unchecked) that
    ``accepts(value)`` refuses: it names the option, the choices, the value and the nearest name."""
    for value in [] if given is None else given or [""]:
        if not accepts(value):
            hint = did_you_mean(value.lower(), names or choices)
            parser.error(f"{option}: expected one or more of {', '.join(choices)}{why}, comma-separated; "
                         f"got {value!r}{hint}")


def _resolves(resolve):
    """``resolve`` as a test: False where it raises (an unknown name)."""
    def accepts(value):
        try:
            resolve(value)
        except (KeyError, ValueError):
            return False
        return True
    return accepts


def _target(output, suffix, single):
    """Where a rendered format goes: None for standard output."""
    if output is None:
        return None if single else os.path.join("reports", f"parity.{suffix}")
    if single and os.path.splitext(output)[1] and not os.path.isdir(output):
        return output
    return os.path.join(output, f"parity.{suffix}")


def _unwritable(path: str) -> str | None:
    """Why a file cannot be written at ``path`` (its folders created as needed), or None."""
    if os.path.isdir(path):
        return "is a folder"
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        return f"would need {parent} to be a folder, and it is a file"
    if not os.access(parent, os.W_OK):
        return f"is in {parent}, which is not writable"
    return None


if __name__ == "__main__":
    sys.exit(main())
