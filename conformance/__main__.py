"""``python -m crossloss.conformance`` (also ``crossloss-parity``): the parity report.

Runs every selected loss on every installed backend against the float64 reference and prints
a table; exits non-zero on any disagreement.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import crossloss

from . import harness, report


def _list(text):
    return [item.strip() for item in text.split(",") if item.strip()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="crossloss-parity", description=__doc__.splitlines()[0])
    parser.add_argument("--backends", type=_list, help="comma-separated (default: every installed one)")
    parser.add_argument("--losses", type=_list, help="comma-separated names or aliases (default: all)")
    parser.add_argument("--dtypes", type=_list, help="comma-separated, e.g. float32,float64 (default: all)")
    parser.add_argument("--quick", action="store_true", help="random cases and the 'mean' reduction only")
    parser.add_argument("--format", type=_list, default=["text"], help="text, json (several: text,json)")
    parser.add_argument("--output", help="file for the (last non-text) format; default: standard output")
    args = parser.parse_args(argv)

    backends = args.backends or crossloss.available_backends()
    for backend in backends:
        crossloss.backends.load(backend)  # a missing framework fails here, with the pip extra to install
    started = time.perf_counter()
    interactive = sys.stderr.isatty()

    def progress(done, total, label):
        if interactive:
            print(f"\r[{done + 1}/{total}] {label:<60}", end="", file=sys.stderr, flush=True)

    results = harness.run(args.losses, backends, args.dtypes, reductions=("mean",) if args.quick else harness.REDUCTIONS,
                          edges=not args.quick, progress=progress)
    if interactive:
        print("\r" + " " * 80 + "\r", end="", file=sys.stderr)
    for fmt in args.format:
        if fmt == "text":
            print(report.text(results, backends))
            print(f"({time.perf_counter() - started:.1f} s, backends: {', '.join(backends)})")
        elif fmt == "json":
            rendered = report.as_json(results, backends)
            if args.output:
                os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
                with open(args.output, "w") as handle:
                    handle.write(rendered)
            else:
                print(rendered)
        else:
            parser.error(f"--format: expected text or json; got {fmt!r}")
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
