"""The conformance harness (installed as ``crossloss.conformance``).

    python -m crossloss.conformance            # the parity report (also: crossloss-parity)
    crossloss.conformance.check("my_loss")      # a report object for one loss
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(repr=False)
class ParityReport:
    """Results of the harness for a selection of losses and backends. ``bool(report)`` is
    ``report.passed`` (``assert conformance.check("my_loss")`` fails for a failing loss); its
    repr is the counts, not the results."""

    results: list
    backends: list

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list:
        return [r for r in self.results if not r.passed]

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return (f"ParityReport(passed={self.passed}, checks={len(self.results)}, failed={len(self.failures)}, "
                f"backends={self.backends!r})")

    def __str__(self) -> str:
        from . import report
        return report.text(self.results, self.backends)

    def markdown(self) -> str:
        from . import report
        return report.markdown(self.results, self.backends)

    def junit(self) -> str:
        from . import report
        return report.junit(self.results)

    def html(self) -> str:
        from . import report
        return report.html_page(self.results, self.backends)

    def json(self) -> str:
        from . import report
        return report.as_json(self.results, self.backends)


def check(*losses: str, backends=None, dtypes=None, quick: bool = False) -> ParityReport:
    """Run the harness on ``losses`` (names or aliases; every registered loss if none) and
    return the report. ``backends``, ``dtypes``: lists of names, a str being one name (default:
    every installed backend, every dtype they run); gradient checks run if float64 is selected,
    trace checks if float32 is, compat checks at those of the two that are. ``quick``: random
    cases, the 'mean' reduction, no gradient, trace or compat checks.
    Before any check, a selection that would run nothing, an unknown name, a loss without a
    reference or a ``quick`` that is not a bool raises UnknownLossError, LossValueError or
    LossTypeError naming the argument."""
    from . import harness, selection
    from .frameworks import run_labels
    quick = selection.flag(quick, "check", "quick")
    names = selection.losses(list(losses) or None, "check")
    backends = selection.backends(backends, "check")
    dtypes = selection.dtypes(dtypes, backends, "check")
    results = harness.run(names, backends, dtypes, reductions=("mean",) if quick else harness.REDUCTIONS,
                          edges=not quick, gradients=not quick, traces=not quick, compat=not quick)
    return ParityReport(results, [label for backend in backends for label in run_labels(backend)])
