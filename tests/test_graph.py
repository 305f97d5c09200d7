"""No host round trip in any loss path: every loss and parameter set runs under
torch.compile(fullgraph=True) (which fails on any graph break a host read would cause), on
torch 'meta' tensors and in tf.function(jit_compile=True), equal to eager. The checks are
the conformance harness's, so `make report` shows the same."""
import pytest

import crossloss
from crossloss.conformance import cases, harness

from conftest import BACKENDS

TRACED = [b for b in BACKENDS if b in ("torch", "tensorflow")]


@pytest.mark.parametrize("backend", TRACED)
@pytest.mark.parametrize("loss", crossloss.list_losses())
def test_traced_equals_eager(loss, backend):
    results = harness.trace_checks(cases.random_cases(loss), [backend])
    failed = [r for r in results if not r.passed]
    assert results and not failed, "\n".join(f"{r.case} [{r.check}]: {r.detail}" for r in failed)
