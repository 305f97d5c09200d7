"""The conformance harness (installed as ``crossloss.conformance``).

    python -m crossloss.conformance            # the parity report (also: crossloss-parity)
    crossloss.conformance.check("my_loss")      # a report object for one loss
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ParityReport:
    """Results of the harness for a selection of losses and backends."""

    results: list
    backends: list

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list:
        return [r for r in self.results if not r.passed]

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
    """Run the harness on ``losses`` (all registered losses if none) and return the report."""
    import crossloss
    from . import harness
    backends = backends or crossloss.available_backends()
    results = harness.run(list(losses) or None, backends, dtypes,
                          reductions=("mean",) if quick else harness.REDUCTIONS, edges=not quick,
                          gradients=not quick, traces=not quick, compat=not quick)
    from .frameworks import run_labels
    return ParityReport(results, [label for backend in backends for label in run_labels(backend)])
