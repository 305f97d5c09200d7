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
from .frameworks import run_labels


def _list(text):
    return [item.strip() for item in text.split(",") if item.strip()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="crossloss-parity", description=__doc__.splitlines()[0])
    parser.add_argument("--backends", type=_list, help="comma-separated (default: every installed one)")
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

    backends = args.backends or crossloss.available_backends()
    for backend in backends:
        crossloss.backends.load(backend)  # a missing framework fails here, with the pip extra to install
    started = time.perf_counter()
    interactive = sys.stderr.isatty()

    def progress(done, total, label):
        if interactive:
            print(f"\r[{done + 1}/{total}] {label:<60}", end="", file=sys.stderr, flush=True)

    results = harness.run(args.losses, backends, args.dtypes, reductions=("mean",) if args.quick else harness.REDUCTIONS,
                          edges=not args.quick, progress=progress, gradients=not (args.quick or args.no_gradients),
                          traces=not (args.quick or args.no_traces), compat=not (args.quick or args.no_compat))
    if interactive:
        print("\r" + " " * 80 + "\r", end="", file=sys.stderr)
    backends = [label for backend in backends for label in run_labels(backend)]  # a CUDA column if torch sees one
    renderers = {"json": (report.as_json, "json"), "markdown": (report.markdown, "md"),
                 "junit": (lambda r, b: report.junit(r), "xml"), "html": (report.html_page, "html")}
    files = [f for f in args.format if f != "text"]
    for fmt in files:
        if fmt not in renderers:
            parser.error(f"--format: expected text, json, markdown, junit or html; got {fmt!r}")
    if "text" in args.format:
        print(report.text(results, backends))
        print(f"({time.perf_counter() - started:.1f} s, backends: {', '.join(backends)})")
    for fmt in files:
        render, suffix = renderers[fmt]
        target = _target(args.output, suffix, single=len(files) == 1)
        if target is None:
            print(render(results, backends))
            continue
        os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(render(results, backends))
        print(f"wrote {target}", file=sys.stderr)
    return 0 if all(r.passed for r in results) else 1


def _target(output, suffix, single):
    """Where a rendered format goes: None for standard output."""
    if output is None:
        return None if single else os.path.join("reports", f"parity.{suffix}")
    if single and os.path.splitext(output)[1]:
        return output
    return os.path.join(output, f"parity.{suffix}")


if __name__ == "__main__":
    sys.exit(main())
