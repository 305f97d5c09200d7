"""No host round trip in any loss path: every loss and parameter set runs under
torch.compile(fullgraph=True), on torch 'meta' tensors and in tf.function(jit_compile=True),
with results equal to eager. (A cheap compile backend suffices: fullgraph=True fails on any
graph break, which is what a host read or data-dependent branch would cause.)"""
import numpy as np
import pytest

import crossloss
from crossloss.conformance import cases

from conftest import BACKENDS

CASES = [c for loss in crossloss.list_losses() for c in cases.random_cases(loss) if c.sample_weight is None]
IDS = [c.name for c in CASES]
torch = pytest.importorskip("torch") if "torch" in BACKENDS else None


def _torch_args(case, dtype):
    return [torch.as_tensor(a) if np.asarray(a).dtype.kind in "iu" else torch.as_tensor(a, dtype=dtype)
            for a in (case.y_true, case.y_pred)]


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch backend not installed")
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_torch_compile_fullgraph_equals_eager(case):
    loss = crossloss.get(case.loss, **case.params)
    y_true, y_pred = _torch_args(case, torch.float32)
    y_pred.requires_grad_(True)
    eager = loss(y_true, y_pred)
    (eager_grad,) = torch.autograd.grad(eager, y_pred)
    torch._dynamo.reset()
    compiled = torch.compile(loss, fullgraph=True, backend="aot_eager")(y_true, y_pred)
    (compiled_grad,) = torch.autograd.grad(compiled, y_pred)
    torch.testing.assert_close(compiled, eager, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(compiled_grad, eager_grad, rtol=1e-6, atol=1e-7)


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch backend not installed")
@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_torch_meta_tensors_give_the_eager_shape_and_dtype(case, reduction):
    loss = crossloss.get(case.loss, reduction=reduction, **case.params)
    eager = loss(*_torch_args(case, torch.float16))
    meta = loss(*(a.to("meta") for a in _torch_args(case, torch.float16)))
    assert meta.device.type == "meta"
    assert meta.shape == eager.shape and meta.dtype == eager.dtype == torch.float32


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="tensorflow backend not installed")
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_tf_function_jit_compile_equals_eager(case):
    import tensorflow as tf
    loss = crossloss.get(case.loss, **case.params)
    args = [tf.constant(a) if np.asarray(a).dtype.kind in "iu" else tf.constant(a, tf.float32)
            for a in (case.y_true, case.y_pred)]

    def value_and_grad(y_true, y_pred):
        with tf.GradientTape() as tape:
            tape.watch(y_pred)
            value = loss(y_true, y_pred)
        return value, tape.gradient(value, y_pred)

    eager = value_and_grad(*args)
    compiled = tf.function(value_and_grad, jit_compile=True)(*args)
    for a, b in zip(compiled, eager):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7)
