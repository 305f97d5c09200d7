"""Every loss x backend x dtype x reduction x parameter set x case (random and edge catalogue)
against the independent float64 reference: the same checks `make report` prints."""
import pytest

import crossloss
from crossloss.conformance import cases, harness
from crossloss.conformance.frameworks import DTYPES

from conftest import BACKENDS

GROUPS = [(loss, backend, dtype) for loss in crossloss.list_losses() for backend in BACKENDS
          for dtype in DTYPES[backend]]


@pytest.mark.parametrize("loss,backend,dtype", GROUPS)
def test_matches_reference(loss, backend, dtype):
    results = harness.check_group(cases.all_cases(loss), backend, dtype)
    failed = [r for r in results if not r.passed]
    assert results and not failed, "\n".join(
        f"{r.case} [{r.reduction}, {r.check}]: {r.detail}" for r in failed[:20])


def test_every_loss_has_random_and_edge_cases():
    for loss in crossloss.list_losses():
        labels = {c.label for c in cases.all_cases(loss)}
        assert {"random", "random, sample_weight", "zero-size batch"} <= labels, loss
        assert any(label.startswith(("probabilities exactly", "logits", "values")) for label in labels), loss
