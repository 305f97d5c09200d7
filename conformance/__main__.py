"""``python -m crossloss.conformance`` (also ``crossloss-parity``): the parity report.

Runs every selected loss on every installed backend against the float64 reference and prints
a table; exits with 1 on any disagreement, and with 2 on a usage error: a loss, backend, dtype
or format it does not know, a loss without a reference, an --import that fails, or an --output
it cannot write (all found before any check runs, an --output where it can be).
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import time

import crossloss
from crossloss.errors import CrosslossError

from . import harness, report, selection
from .frameworks import run_labels
from .selection import CLI

FORMATS = ("text", "json", "markdown", "junit", "html")
SUFFIX = {"text": "txt", "json": "json", "markdown": "md", "junit": "xml", "html": "html"}
RENDER = {"text": report.text, "json": report.as_json, "markdown": report.markdown,
          "junit": lambda results, backends: report.junit(results), "html": report.html_page}


def _list(text):
    return [item.strip() for item in text.split(",") if item.strip()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=CLI, description=__doc__.splitlines()[0])
    parser.add_argument("--backends", type=_list, help="comma-separated (default: every installed one)")
    parser.add_argument("--import", dest="modules", type=_list, default=[], metavar="MODULES",
                        help="comma-separated modules to import first: those that register your own losses")
    parser.add_argument("--losses", type=_list, help="comma-separated names or aliases (default: all)")
    parser.add_argument("--dtypes", type=_list,
                        help="comma-separated, e.g. float32,float64 (default: all); gradient checks run if float64 "
                             "is selected, trace checks if float32 is, compat checks at those of the two that are")
    parser.add_argument("--quick", action="store_true",
                        help="random cases, the 'mean' reduction, no gradient, trace or compat checks (under 30 s)")
    parser.add_argument("--format", type=_list, default=["text"],
                        help="text, json, markdown, junit, html; several: text,junit,html (default: text)")
    parser.add_argument("--output", help="one format: the file to write ('-': standard output; an existing folder: "
                                         "parity.<ext> in it); several: a folder for parity.<ext> files, the text "
                                         "table staying on standard output; default: standard output for one "
                                         "format, reports/ for several")
    parser.add_argument("--no-gradients", action="store_true", help="skip the gradient checks")
    parser.add_argument("--no-traces", action="store_true", help="skip torch.compile / meta / tf.function checks")
    parser.add_argument("--no-compat", action="store_true", help="skip compat='torch' / 'keras' against the frameworks")
    args = parser.parse_args(argv)

    # Every selection is checked before any work; a bad one is a usage error (exit status 2).
    for module in args.modules:  # users' losses register as their module loads
        try:
            importlib.import_module(module)
        except Exception as error:  # not found, or raising as it loads
            why = str(error) if isinstance(error, ImportError) else f"{type(error).__name__}: {error}"
            parser.error(f"--import: expected importable modules (that register losses); got {module!r}: "
                         + " ".join(why.split()))
    try:
        losses = selection.losses(args.losses, CLI)  # each with a reference
        backends = selection.backends(args.backends, CLI)
        dtypes = selection.dtypes(args.dtypes, backends, CLI)
        formats = selection.pick(CLI, "format", args.format, FORMATS, {f: f for f in FORMATS}.__getitem__)
    except CrosslossError as error:
        parser.error(str(error))
    if args.output == "-" and len(formats) > 1:
        parser.error("--output: expected a folder for the files of several formats; got '-' (standard output "
                     "takes one format)")
    targets = _targets(formats, args.output)
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

    results = harness.run(losses, backends, dtypes, reductions=("mean",) if args.quick else harness.REDUCTIONS,
                          edges=not args.quick, progress=progress, gradients=not (args.quick or args.no_gradients),
                          traces=not (args.quick or args.no_traces), compat=not (args.quick or args.no_compat))
    if interactive:
        print("\r" + " " * 80 + "\r", end="", file=sys.stderr)
    backends = [label for backend in backends for label in run_labels(backend)]  # a CUDA column if torch sees one
    for fmt, target in sorted(targets.items(), key=lambda item: item[1] is not None):  # standard output first
        rendered = RENDER[fmt](results, backends)
        if target is None:
            print(rendered)
            if fmt == "text":
                print(f"({time.perf_counter() - started:.1f} s, backends: {', '.join(backends)})")
            continue
        try:
            os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
            with open(target, "w", encoding="utf-8") as handle:
                handle.write(rendered)
        except OSError as error:  # found only now (e.g. a read-only file system): not a disagreement
            print(f"{CLI}: error: --output: could not write {target}: {error}", file=sys.stderr)
            return 2
        print(f"wrote {target}", file=sys.stderr)
    return 0 if all(r.passed for r in results) else 1


def _targets(formats: list[str], output: str | None) -> dict:
    """Format -> the file it goes to, None for standard output. One format: standard output,
    or the file --output names ("-": standard output; an existing folder, or a path ending in
    a separator: parity.<ext> in it). Several: parity.<ext> files in --output (default:
    reports/), and the text table on standard output."""
    if len(formats) == 1:
        (fmt,) = formats
        if output in (None, "-"):
            return {fmt: None}
        in_folder = os.path.isdir(output) or output.endswith(("/", os.sep))
        return {fmt: os.path.join(output, f"parity.{SUFFIX[fmt]}") if in_folder else output}
    return {fmt: None if fmt == "text" else os.path.join(output or "reports", f"parity.{SUFFIX[fmt]}")
            for fmt in formats}


def _unwritable(path: str) -> str | None:
    """Why a file cannot be written at ``path`` (its folders created as needed), or None."""
    if os.path.isdir(path):
        return "is a folder"
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return "exists and is not writable"
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
