"""No host round trip in any loss path: every loss and parameter set runs under
torch.compile(fullgraph=True) (which fails on any graph break a host read would cause), on
torch 'meta' tensors and in tf.function(jit_compile=True), equal to eager. The checks are
the conformance harness's, so `make report` shows the same."""
import math
import subprocess
import sys

import numpy as np
import pytest

import crossloss
from crossloss.conformance import cases, harness
from crossloss.conformance.frameworks import to_backend

from conftest import BACKENDS

TRACED = [b for b in BACKENDS if b in ("torch", "tensorflow")]


@pytest.mark.parametrize("backend", TRACED)
@pytest.mark.parametrize("loss", crossloss.list_losses())
def test_traced_equals_eager(loss, backend):
    results = harness.trace_checks(cases.random_cases(loss), [backend])
    failed = [r for r in results if not r.passed]
    assert results and not failed, "\n".join(f"{r.case} [{r.check}]: {r.detail}" for r in failed)


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
def test_the_first_call_of_a_loss_may_be_inside_torch_compile():
    """A fresh process: dispatch must not import the torch backend inside the trace (Dynamo
    refuses to trace an import), so get() loads the backends of imported frameworks."""
    import subprocess
    import sys
    code = ("import torch, crossloss\n"
            "loss = crossloss.get('scce', from_logits=True)\n"
            "step = torch.compile(lambda x, y: loss(y, x), fullgraph=True, backend='eager')\n"
            "torch.manual_seed(0)\n"
            "x, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])\n"
            "print(torch.allclose(step(x, y), loss(y, x), rtol=1e-5, atol=1e-6))")  # the trace runs the formula
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.stdout.strip() == "True", run.stderr[-2000:]


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("name,params", [("scce", {"from_logits": True, "class_weight": [1.0, 2.0, 3.0]}),
                                         ("bce", {"from_logits": True, "pos_weight": [1.0, 2.0, 3.0]})])
def test_a_loss_first_called_in_inference_mode_still_trains(name, params):
    """The plan made in inference mode keeps its per-class weights for later calls, which
    autograd records: they must not be inference tensors."""
    import torch
    loss = crossloss.get(name, **params)
    y_true = torch.tensor([0, 1, 2, 1]) if name == "scce" else torch.rand(4, 3)
    x = torch.randn(4, 3)
    with torch.inference_mode():
        loss(y_true, x)
    x.requires_grad_()
    loss(y_true, x).backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("name,params", [("bce", {"from_logits": True, "pos_weight": 2.0}),
                                         ("bce", {"pos_weight": [1.0, 2.0, 3.0], "neg_weight": 0.5}),
                                         ("scce", {"from_logits": True, "class_weight": 2.0}),
                                         ("cce", {"class_weight": [1.0, 2.0, 3.0], "label_smoothing": 0.1})])
def test_dynamic_shapes_compile_with_scalar_and_per_class_weights(name, params):
    """torch.compile(dynamic=True) traces floats as symbols: a loss's parameters must not be
    inspected in the trace (hasattr of a symbolic float is a graph break)."""
    import torch
    loss = crossloss.get(name, backend="torch", **params)
    torch._dynamo.reset()  # each loss adds a cache entry to Loss.__call__, which allows 8
    step = torch.compile(loss, fullgraph=True, dynamic=True, backend="eager")
    torch.manual_seed(0)
    for batch in (4, 7):  # one trace serves both batch sizes
        x = torch.randn(batch, 3)
        if name == "scce":
            y_true = torch.randint(0, 3, (batch,))
        else:
            y_true = torch.rand(batch, 3) if name == "bce" else torch.softmax(torch.randn(batch, 3), -1)
        y_pred = x if params.get("from_logits") else (torch.sigmoid(x) if name == "bce" else torch.softmax(x, -1))
        torch.testing.assert_close(step(y_true, y_pred), loss(y_true, y_pred))


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("name,params", [("scce", {"from_logits": True, "class_weight": [1.0, 2.0, 3.0]}),
                                         ("bce", {"from_logits": True, "pos_weight": [1.0, 2.0, 3.0]})])
def test_per_class_weights_compile_under_inference_mode(name, params):
    """A compiled evaluation step: torch.compile turns a NumPy array it meets into a graph
    input whose guard fails under inference_mode, so weights enter the trace as numbers."""
    import torch
    loss = crossloss.get(name, backend="torch", **params)
    torch._dynamo.reset()
    step = torch.compile(loss, fullgraph=True, backend="eager")
    torch.manual_seed(0)
    x = torch.randn(4, 3)
    y_true = torch.tensor([0, 1, 2, 1]) if name == "scce" else torch.rand(4, 3)
    with torch.inference_mode():
        torch.testing.assert_close(step(y_true, x), loss(y_true, x))


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("name,params", [("bce", {}), ("bce", {"from_logits": True, "pos_weight": [2.0, 0.5, 1.5]}),
                                         ("scce", {"from_logits": True, "ignore_index": 2, "class_weight": [1, 2, 0.5]})])
@pytest.mark.parametrize("transform", ["vmap", "vmap of grad"])
def test_compiled_vmap_equals_eager_vmap_at_each_batch_size(name, params, transform):
    """torch.compile(vmap(loss)) and of vmap(grad(loss)) (per-sample gradients), dynamic=True:
    vmap names its function by repr (a trace cannot format a weight array), a mean's count is
    symbolic (a batched tensor cannot be divided by a symbolic int), and a trace may not show
    that a gradient is wanted (torch's BCE kernel has no such backward)."""
    import torch
    from torch.func import grad, vmap
    loss = crossloss.get(name, backend="torch", **params)
    fn = vmap(loss) if transform == "vmap" else vmap(grad(loss, argnums=1))
    torch._dynamo.reset()
    step = torch.compile(fn, fullgraph=True, dynamic=True, backend="aot_eager")
    rng = np.random.default_rng(7)
    for batch in (3, 5):
        pairs = [cases.random_inputs(crossloss.spec(name), params, rng, (batch, 3)) for _ in range(2)]
        y_true, y_pred = (torch.tensor(np.stack(x)) for x in zip(*pairs))
        expected = fn(y_true, y_pred)
        torch.testing.assert_close(step(y_true, y_pred), expected, rtol=1e-12, atol=0)


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="tensorflow is not installed")
@pytest.mark.parametrize("name,params", [("scce", {"from_logits": True}), ("scce", {"ignore_index": 4}),
                                         ("dice", {"activation": "softmax"}), ("scce", {"compat": "keras"})])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_labels_out_of_range_under_xla_give_nan_not_a_clamped_label(name, params, reduction):
    """XLA clamps a gather's index (and TensorFlow's GPU gather gives 0), and a graph reads
    no value back: a label out of range makes the loss NaN on the device instead."""
    import tensorflow as tf
    loss = crossloss.get(name, backend="tensorflow", reduction=reduction, **params)
    step = tf.function(lambda y_true, y_pred: loss(y_true, y_pred), jit_compile=True)
    probabilities = tf.nn.softmax(tf.constant([[0.5, -1.0, 2.0], [0.1, 0.2, -0.3]], tf.float64), axis=-1)
    y_pred = tf.math.log(probabilities) if params.get("from_logits") or name == "dice" else probabilities
    for labels in ([1, 3], [-1, 2], [4, 7]):
        assert np.isnan(step(tf.constant(labels), y_pred).numpy()).all(), labels
    good = tf.constant([4, 2] if "ignore_index" in params else [0, 2])
    assert np.allclose(step(good, y_pred).numpy(), loss(good, y_pred).numpy(), rtol=1e-12)
    assert not np.isnan(step(good, y_pred).numpy()).any()


@pytest.mark.parametrize("name,params", [("scce", {"from_logits": True}), ("scce", {"ignore_index": -1}),
                                         ("scce", {"ignore_index": 255}), ("dice", {"ignore_index": 255})])
@pytest.mark.parametrize("label", [2.5, -0.5, 255.5, np.nan])
def test_float_labels_with_a_fraction_give_no_number_where_nothing_reads_them(name, params, label):
    """A cast alone would take 2.5 as class 2, -0.5 as class 0, 255.5 as the ignored 255 and
    (under XLA) NaN as class 0: unread, a fractional label is an index out of range, which
    gives NaN under XLA and under "never" on NumPy (its gathers wrap a negative index), and
    the framework's own gather error elsewhere."""
    loss = crossloss.get(name, **params)
    y_pred = np.log(np.array([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]], np.float32))
    labels = np.array([label, 2.0], np.float32)
    outcomes = []
    if "tensorflow" in BACKENDS:
        import tensorflow as tf
        xla = tf.function(lambda y_true, y_pred: loss(y_true, y_pred), jit_compile=True)
        outcomes.append(float(xla(tf.constant(labels), tf.constant(y_pred))))
    if "torch" in BACKENDS:
        import torch
        torch._dynamo.reset()
        compiled = torch.compile(lambda y_true, y_pred: loss(y_true, y_pred), fullgraph=True, backend="eager")
        try:
            outcomes.append(float(compiled(torch.tensor(labels), torch.tensor(y_pred))))
        except (IndexError, RuntimeError) as error:  # torch's gather refuses the index
            outcomes.append(error)
    for backend in [b for b in ("numpy", "torch", "tensorflow") if b in BACKENDS]:
        with crossloss.options(value_checks="never"):
            try:
                outcomes.append(float(loss(to_backend(backend, labels, "float32"), to_backend(backend, y_pred, "float32"))))
            except (ValueError, IndexError, RuntimeError) as error:  # the contract's error, or the framework's
                outcomes.append(error)
    assert outcomes and all(not isinstance(x, float) or np.isnan(x) for x in outcomes), outcomes


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("name,params", [("bce", {"from_logits": True}), ("scce", {}), ("dice", {"axis": 1}),
                                         ("mse", {})])
@pytest.mark.parametrize("weighted", [False, True])
def test_dynamic_shapes_need_no_graph_per_size(name, params, weighted):
    """A mean divides by a count that is symbolic under dynamic=True: a cache looked up by it
    would add a guard per size, and fullgraph=True fails after 8 (the recompile limit)."""
    import torch
    graphs = []

    def counting(graph, example_inputs):
        graphs.append(graph)
        return graph.forward

    loss = crossloss.get(name, backend="torch", **params)
    torch._dynamo.reset()
    step = torch.compile(loss, fullgraph=True, dynamic=True, backend=counting)
    torch.manual_seed(0)
    for batch in range(4, 14):
        x = torch.randn(batch, 3)
        y_pred = x if params.get("from_logits") or name == "mse" else torch.softmax(x, 1)
        y_true = torch.randint(0, 3, (batch,)) if name in ("scce", "dice") else torch.rand(batch, 3)
        weight = torch.rand(batch) if weighted else None
        torch.testing.assert_close(step(y_true, y_pred, weight), loss(y_true, y_pred, weight))
    assert len(graphs) <= 2  # torch may specialise its first size once


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="tensorflow is not installed")
def test_an_unknown_rank_is_refused_by_name():
    """A graph's signature may leave sizes unknown; the axes must be known. The error is
    crossloss's own: autograph leaves crossloss's code unconverted, as it does Keras's."""
    import tensorflow as tf
    signature = [tf.TensorSpec(None, tf.float32)] * 2
    step = tf.function(lambda y_true, y_pred: crossloss.get("mse")(y_true, y_pred), input_signature=signature)
    with pytest.raises(crossloss.LossValueError, match="'y_true' expected a tensor of known rank; got a tensor of "
                                                       "unknown rank"):
        step(tf.zeros((2, 3)), tf.zeros((2, 3)))


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("backend", [None, "torch"])
@pytest.mark.parametrize("name,params", [("scce", {"from_logits": True}), ("dice", {"activation": "softmax"})])
def test_eager_calls_between_compiled_ones_add_no_graph(backend, name, params):
    """Eager calls of the same loss object (torch and NumPy inputs) between compiled calls,
    and a first call that is compiled, change nothing a compiled graph was guarded on: the
    same graphs as the compiled calls alone (Dice's smoothing terms are scalars that eager
    calls keep as cached tensors)."""
    import torch

    def graphs(steps):
        compiled = []

        def counting(graph, example_inputs):
            compiled.append(graph)
            return graph.forward

        torch._dynamo.reset()
        loss = crossloss.get(name, backend=backend, **params)
        step = torch.compile(lambda y_true, y_pred: loss(y_true, y_pred), fullgraph=True, dynamic=False,
                             backend=counting)
        torch.manual_seed(0)
        logits, labels = torch.randn(6, 3), torch.randint(0, 3, (6,))
        for what in steps:
            if what == "torch":
                loss(labels, logits)
            elif what == "numpy":
                loss(labels.numpy(), logits.numpy()) if backend is None else loss(labels, logits.double())
            else:
                torch.testing.assert_close(step(labels[:what], logits[:what]), loss(labels[:what], logits[:what]))
        return len(compiled)

    alone = graphs([2, 3, 4, 2, 3, 4])
    assert alone == 3
    assert graphs([2, 3, 4, "torch", 2, 3, "numpy", 4, "torch", 2]) == alone


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
def test_a_call_under_a_default_device_leaves_later_cpu_results_on_cpu():
    """Numbers cached as CPU scalar tensors (a mean's divisor, Dice's smoothing) are made on
    the CPU, not on the default device in force at the first call that needs them."""
    import torch
    rng = np.random.default_rng(11)
    labels = rng.integers(0, 3, 1237)  # 1237: a divisor no other test makes
    probabilities = rng.dirichlet(np.ones(3), 1237)
    loss = crossloss.get("scce")  # the formula, which divides by the cached scalar
    y_true, y_pred = torch.as_tensor(labels), torch.as_tensor(probabilities)
    with torch.device("meta"):
        inside = loss(y_true, y_pred)
    after = crossloss.get("scce")(y_true, y_pred)
    expected = harness.reference_for("scce")(labels, probabilities)
    for out in (inside, after, loss(y_true, y_pred)):
        assert out.device.type == "cpu"
        np.testing.assert_allclose(out.item(), expected, rtol=1e-12)


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="tensorflow is not installed")
@pytest.mark.parametrize("name,params,labels", [("cce", {"from_logits": True, "label_smoothing": 0.1}, False),
                                                ("scce", {"from_logits": True, "label_smoothing": 0.1}, True)])
def test_label_smoothing_takes_an_unknown_class_count_from_the_graph(name, params, labels):
    """e / K with K unknown in the input signature: the class axis's size as a graph tensor."""
    import tensorflow as tf
    rng = np.random.default_rng(12)
    target = rng.integers(0, 4, 6)
    y_true = target if labels else np.eye(4)[target]
    logits = rng.normal(size=(6, 4))
    loss = crossloss.get(name, **params)
    signature = [tf.TensorSpec([None], tf.int64) if labels else tf.TensorSpec([None, None], tf.float32),
                 tf.TensorSpec([None, None], tf.float32)]
    step = tf.function(lambda t, p: loss(t, p), input_signature=signature)
    y_true = tf.constant(y_true, tf.int64 if labels else tf.float32)
    traced = step(y_true, tf.constant(logits, tf.float32))
    expected = harness.reference_for(name)(target if labels else np.eye(4)[target], logits, **params)
    np.testing.assert_allclose(float(traced), expected, rtol=1e-5)


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="tensorflow is not installed")
@pytest.mark.parametrize("name,params,argument,expected", [
    ("cce", {"class_weight": [1.0, 2.0, 3.0, 4.0]}, "class_weight", "one weight per class, for y_pred whose class "
                                                                    "axis 1 has a known size"),
    ("dice", {"activation": "softmax"}, "y_pred", "a class axis of known size for integer-label targets")])
def test_what_needs_the_class_count_refuses_a_graph_that_leaves_it_out(name, params, argument, expected):
    import tensorflow as tf
    labels = name == "dice"
    loss = crossloss.get(name, **params)
    signature = [tf.TensorSpec([None], tf.int64) if labels else tf.TensorSpec([None, None], tf.float32),
                 tf.TensorSpec([None, None], tf.float32)]
    step = tf.function(lambda t, p: loss(t, p), input_signature=signature)  # (autograph leaves crossloss's errors as they are)
    y_true = tf.constant([0, 1, 2], tf.int64) if labels else tf.eye(4)[:3]
    with pytest.raises(crossloss.LossValueError, match=f"argument '{argument}' expected {expected}"):
        step(y_true, tf.random.normal((3, 4)))


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="tensorflow is not installed")
@pytest.mark.parametrize("name,params,true_shape,pred_shape", [
    ("mse", {}, (1,), (4,)), ("mse", {}, (4, 1), (4, 3)), ("bce", {}, (4, 1), (4, 3)), ("cce", {}, (1, 3), (4, 3)),
    ("kld", {"from_logits": True}, (1, 3), (4, 3)), ("dice", {}, (1, 3), (4, 3)), ("scce", {}, (1,), (4, 3)),
    ("scce", {"from_logits": True}, (2,), (4, 3)), ("dice", {"activation": "softmax"}, (1,), (4, 3))])
@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_sizes_a_graph_leaves_unknown_are_compared_where_they_meet(name, params, true_shape, pred_shape,
                                                                      jit_compile, reduction):
    """Shapes that agree where a signature gives sizes may differ at run time, and TensorFlow
    would broadcast them. Where one input is not reshaped to the other's sizes (which checks
    them), they are compared on the device: NaN where a size differs, as eager raises."""
    import tensorflow as tf
    rng = np.random.default_rng(5)
    labels = name == "scce" or "activation" in params
    loss = crossloss.get(name, reduction=reduction, **params)
    signature = [tf.TensorSpec([None] * len(true_shape), tf.int64 if labels else tf.float32),
                 tf.TensorSpec([None] * (len(pred_shape) - 1) + [3 if labels else None], tf.float32)]  # (C: Dice's labels)
    step = tf.function(lambda t, p: loss(t, p), input_signature=signature, jit_compile=jit_compile)

    def inputs(shape_true, shape_pred):
        y_true = rng.integers(0, 3, shape_true) if labels else rng.uniform(size=shape_true)
        return tf.constant(y_true, signature[0].dtype), tf.constant(rng.uniform(0.05, 0.95, shape_pred), tf.float32)
    y_true, y_pred = inputs(true_shape, pred_shape)
    with pytest.raises(crossloss.LossValueError):
        loss(y_true, y_pred)  # eager
    try:
        result = step(y_true, y_pred).numpy()
    except tf.errors.InvalidArgumentError:  # TensorFlow's own checks may stop it first (a reshape, a gather)
        result = None
    assert result is None or np.isnan(result).all()
    good = inputs(pred_shape[:-1] if labels else pred_shape, pred_shape)
    np.testing.assert_allclose(step(*good).numpy(), loss(*good).numpy(), rtol=1e-6)


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="tensorflow is not installed")
@pytest.mark.parametrize("name,params,true_spec,pred_spec", [
    ("scce", {"from_logits": True}, [None], [3, 4]), ("scce", {"from_logits": True}, [3], [None, 4]),
    ("dice", {"activation": "softmax"}, [None], [3, 4]), ("mse", {}, [None, 4], [3, 4]), ("bce", {}, [3, 4], [None, 4]),
    ("cce", {}, [None, 4], [3, 4]), ("mse", {}, [None, 1], [3]), ("mse", {}, [3, None], [3]),
    ("mse", {}, [None], [None, None]), ("bce", {}, [3], [None, None]), ("scce", {}, [None, None], [3, 4])])
def test_a_known_size_against_an_unknown_one_is_compared_when_the_graph_runs(name, params, true_spec, pred_spec):
    """(None,) labels against (3, 4) logits were refused at trace time as different shapes (as
    tf.function(reduce_retracing=True) makes them from a Variable's logits); tf.nn's and
    Keras's losses take them. A size that differs when it runs makes the loss NaN."""
    import tensorflow as tf
    rng = np.random.default_rng(7)
    labels = name == "scce" or "activation" in params
    loss = crossloss.get(name, **params)
    signature = [tf.TensorSpec(true_spec, tf.int64 if labels else tf.float32), tf.TensorSpec(pred_spec, tf.float32)]
    step = tf.function(lambda t, p: loss(t, p), input_signature=signature)
    # an unknown size is the other input's where it has one there, else 3 (1 on an axis only one has)
    pred_shape = [(true_spec[i] if i < len(true_spec) and true_spec[i] else 3 if i == 0 else 1) if d is None else d
                  for i, d in enumerate(pred_spec)]
    true_shape = [(pred_shape[i] if i < len(pred_shape) and not labels else 3 if i == 0 else 1) if d is None else d
                  for i, d in enumerate(true_spec)]

    def inputs(batch):
        y_true = rng.integers(0, 4, [batch] + true_shape[1:]) if labels else rng.uniform(size=[batch] + true_shape[1:])
        return tf.constant(y_true, signature[0].dtype), tf.constant(rng.uniform(0.05, 0.95, pred_shape), tf.float32)
    y_true, y_pred = inputs(3)
    np.testing.assert_allclose(step(y_true, y_pred).numpy(), loss(y_true, y_pred).numpy(), rtol=1e-6)
    if true_spec[0] is None:  # 5 samples of y_true against 3 of y_pred
        try:
            assert np.isnan(step(*inputs(5)).numpy())
        except tf.errors.InvalidArgumentError:  # TensorFlow's own check stopped it (a gather, a reshape)
            pass


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="tensorflow is not installed")
def test_dense_targets_or_labels_need_a_known_class_axis_size():
    """Dice takes either: a (3, None) y_true against (3, 4) could be (3, 1) labels or (3, 4)
    masks, and was taken as masks, NaN for labels. It is refused by name now."""
    import tensorflow as tf
    signature = [tf.TensorSpec([3, None], tf.int64), tf.TensorSpec([3, 4], tf.float32)]
    step = tf.function(lambda t, p: crossloss.get("dice")(t, p), input_signature=signature)
    with pytest.raises(crossloss.LossValueError, match="dice: argument 'y_true' expected a class-axis size given by"):
        step(tf.constant([[0], [3], [1]], tf.int64), tf.fill((3, 4), 0.25))


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="tensorflow is not installed")
@pytest.mark.parametrize("name,weight", [("scce", [[1.0], [0.5], [2.0]]), ("mse", [[[1.0], [2.0]], [[0.5], [1.0]],
                                                                                  [[2.0], [0.0]]])])
def test_a_weight_with_trailing_axes_of_size_1_is_taken_when_its_sizes_are_unknown(name, weight):
    """A (3, 1) weight of sparse CE's (3,) values, or (3, 2, 1) of MSE's (3, 2), was refused in
    a graph (as longer than the values' shape) where eager takes it."""
    import tensorflow as tf
    rng = np.random.default_rng(8)
    labels = name == "scce"
    y_true = tf.constant(rng.integers(0, 2, 3) if labels else rng.uniform(size=(3, 2)), tf.int64 if labels else tf.float32)
    y_pred = tf.constant(rng.uniform(0.1, 0.9, (3, 2)), tf.float32)
    weight = tf.constant(weight)
    loss = crossloss.get(name)
    signature = [tf.TensorSpec([None] * len(y_true.shape), y_true.dtype), tf.TensorSpec([None, 2]),
                 tf.TensorSpec([None] * len(weight.shape))]
    step = tf.function(lambda t, p, w: loss(t, p, sample_weight=w), input_signature=signature)
    np.testing.assert_allclose(step(y_true, y_pred, weight).numpy(), loss(y_true, y_pred, weight).numpy(), rtol=1e-6)


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="tensorflow is not installed")
@pytest.mark.parametrize("name", ["mse", "bce", "dice"])
@pytest.mark.parametrize("jit_compile", [False, True])
def test_a_sample_weights_unknown_sizes_are_compared_too(name, jit_compile):
    """A (1, 2) weight of (3, 2) values, its sizes unknown to the graph, was broadcast over
    the samples (MSE 0.667 where eager refuses it); a (3, 1) or (3, 2) weight stays valid."""
    import tensorflow as tf
    rng = np.random.default_rng(6)
    y_true, y_pred = tf.constant(rng.uniform(size=(3, 2)), tf.float32), tf.constant(rng.uniform(0.1, 0.9, (3, 2)), tf.float32)
    loss = crossloss.get(name)
    signature = [tf.TensorSpec([None, 2])] * 2 + [tf.TensorSpec([None, None])]
    step = tf.function(lambda t, p, w: loss(t, p, sample_weight=w), input_signature=signature, jit_compile=jit_compile)
    bad = tf.constant([[2.0, 0.0]])
    with pytest.raises(crossloss.LossValueError):
        loss(y_true, y_pred, sample_weight=bad)
    assert np.isnan(step(y_true, y_pred, bad).numpy())
    for good in ([[1.0], [0.5], [2.0]], [[1.0, 1.0], [0.5, 0.5], [2.0, 2.0]]):
        good = tf.constant(good)
        np.testing.assert_allclose(step(y_true, y_pred, good).numpy(), loss(y_true, y_pred, good).numpy(), rtol=1e-6)


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="tensorflow is not installed")
def test_a_sample_weight_of_unknown_rank_is_refused_by_name():
    import tensorflow as tf
    signature = [tf.TensorSpec([None, 2])] * 2 + [tf.TensorSpec(None)]
    step = tf.function(lambda t, p, w: crossloss.get("mse")(t, p, sample_weight=w), input_signature=signature)
    with pytest.raises(crossloss.LossValueError, match="'sample_weight' expected a tensor of known rank"):
        step(tf.zeros((3, 2)), tf.zeros((3, 2)), tf.ones(3))


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
def test_a_numpy_target_compiles_one_graph_from_the_first_call():
    """In a fresh process the first compiled call filled dispatch's type cache, which its graph
    guarded on as empty: a second graph on the second call, same shapes. The cache is filled
    when the backend loads now."""
    code = (
        "import numpy as np, torch, crossloss\n"
        "graphs = []\n"
        "def counting(graph, inputs):\n"
        "    graphs.append(graph)\n"
        "    return graph.forward\n"
        "loss = crossloss.get('mse', backend='torch')\n"
        "step = torch.compile(lambda t, p: loss(t, p), fullgraph=True, dynamic=True, backend=counting)\n"
        "for batch in (4, 4, 5, 6):\n"
        "    step(np.ones((batch, 3), np.float32), torch.zeros(batch, 3))\n"
        "print(len(graphs))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "1"


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("sample_weight", [0.5, 2, True, [1.0, 0.5, 2.0, 0.0], np.array([1.0, 0.5, 2.0, 0.0])])
def test_python_numbers_lists_and_arrays_join_a_compiled_call(sample_weight):
    """Dynamo can take neither the type nor the dtype of a NumPy array in a trace: there a
    number, list or array becomes a tensor first, and the tensor is checked. A sample_weight,
    and y_true, of each kind compile with fullgraph=True and equal eager."""
    import torch
    rng = np.random.default_rng(3)
    y_true, y_pred = (torch.tensor(rng.normal(size=(4, 3))) for _ in range(2))
    loss = crossloss.get("huber")
    weighted = torch.compile(lambda t, p: loss(t, p, sample_weight=sample_weight), fullgraph=True, backend="eager")
    assert torch.equal(weighted(y_true, y_pred), loss(y_true, y_pred, sample_weight=sample_weight))
    assert weighted(y_true, y_pred).dtype is torch.float64
    as_array = torch.compile(lambda t, p: loss(t, p), fullgraph=True, backend="eager")
    assert torch.equal(as_array(y_true.numpy(), y_pred), loss(y_true.numpy(), y_pred))
    assert torch.equal(as_array(y_true.tolist(), y_pred), loss(y_true, y_pred))
    from_number = torch.compile(lambda p: loss(0.1, p), fullgraph=True, backend="eager")
    assert torch.equal(from_number(y_pred[0, 0]), loss(0.1, y_pred[0, 0]))
    expected = harness.reference_for("huber")(np.float64(0.1), y_pred[0, 0].numpy())
    assert float(from_number(y_pred[0, 0])) == pytest.approx(expected, rel=1e-12)


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("name,params", [("mse", {}), ("scce", {"from_logits": True}), ("dice", {"axis": 1})])
def test_a_python_number_weight_that_changes_compiles_as_plain_torch_does(name, params):
    """It became a tensor, a constant of the trace: one graph per value, and with fullgraph=True
    the 9th value failed dynamo's recompile limit (a helper's audit). Plain torch's `l * w`
    compiles twice (the second graph takes w as a symbol); so does crossloss's now."""
    import torch
    from torch._dynamo.testing import CompileCounter
    torch._dynamo.reset()
    counter = CompileCounter()
    loss = crossloss.get(name, **params)
    compiled = torch.compile(lambda t, p, w: loss(t, p, sample_weight=w), backend=counter, fullgraph=True)
    rng = np.random.default_rng(0)
    y_pred = torch.tensor(rng.uniform(0.05, 0.95, (4, 3, 5)) if name == "dice" else rng.normal(size=(4, 3)))
    y_true = torch.tensor(rng.integers(0, 3, (4, 5) if name == "dice" else (4,)) if name != "mse" else
                          rng.normal(size=(4, 3)))
    for step in range(12):
        weight = 0.1 * (step + 1)
        assert torch.allclose(compiled(y_true, y_pred, weight), loss(y_true, y_pred, sample_weight=weight), rtol=1e-12)
    assert counter.frame_count <= 2


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("y_true,y_pred", [([0.0, 1.0], [0.5, 0.25]), ([0, 1], [0.5, 0.25]), (1.0, 0.5),
                                           ([0.5, 1.0], [0, 1])], ids=["float64", "int64", "number", "int-list"])
def test_a_y_pred_of_python_numbers_joins_a_compiled_call(y_true, y_pred):
    """Its dtype was once read off a NumPy array, which Dynamo cannot trace: every such call failed
    to compile. Against a tensor y_true of each kind, compiled equals eager, dtype included."""
    import torch
    y_true = torch.tensor(y_true, dtype=torch.float64 if isinstance(y_true, float) or 0.5 in y_true else None)
    loss = crossloss.get("mse")
    compiled = torch.compile(lambda t: loss(t, y_pred), fullgraph=True, backend="eager")
    out, eager = compiled(y_true), loss(y_true, y_pred)
    assert torch.equal(out, eager) and out.dtype is eager.dtype


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("name,params,example,edge", [
    ("cce", {}, [[0.5, 0.5]], [[0.0, 1.0]]),                                          # p = 0: the floor
    ("scce", {"from_logits": True}, [[0.3, 0.1]], [[math.inf, 0.0]]),                  # +inf logit: the guard
    ("bce", {"from_logits": True}, [[0.3, 0.1]], [[-math.inf, 0.6]]),
])
def test_jit_trace_replays_the_graph_path_not_the_path_one_inputs_values_chose(name, params, example, edge):
    """torch.jit.trace records the ops one call ran: a call that read finite inputs and so
    skipped the floor or the inf guard gave inf or NaN on later inputs (eager: 100, inf)."""
    import torch
    loss = crossloss.get(name, backend="torch", **params)
    y_true = torch.tensor([0]) if name == "scce" else torch.tensor([[1.0, 0.0]])
    traced = torch.jit.trace(lambda t, p: loss(t, p), (y_true, torch.tensor(example)), check_trace=False)
    assert torch.equal(traced(y_true, torch.tensor(edge)), loss(y_true, torch.tensor(edge)))


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("name,params", [(name, {}) for name in crossloss.list_losses()] + [
    ("scce", {"from_logits": True}), ("scce", {"ignore_index": 1}), ("cce", {"label_smoothing": 0.1}),
    ("kld", {"from_logits": True}), ("bce", {"from_logits": True}), ("dice", {"per_class": False})])
def test_jit_trace_replays_at_another_batch_size(name, params, reduction):
    """torch.jit.trace records a Python number as a constant: a mean that divided by
    numel() divided every later batch by the traced batch's count (1.5x the loss at 6 rows
    for a trace at 4). The count now comes from the sizes, which the trace records as ops."""
    import torch
    loss = crossloss.get(name, backend="torch", reduction=reduction, **params)
    rng = np.random.default_rng(5)
    traced_on, replayed_on = ((torch.tensor(x) for x in cases.random_inputs(crossloss.spec(name), params, rng, shape))
                              for shape in ((4, 3), (6, 3)))
    traced = torch.jit.trace(lambda t, p: loss(t, p), tuple(traced_on), check_trace=False)
    y_true, y_pred = replayed_on
    torch.testing.assert_close(traced(y_true, y_pred), loss(y_true, y_pred), rtol=1e-6, atol=1e-7)


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("name,params", [("scce", {"from_logits": True}), ("kld", {"from_logits": True}),
                                         ("dice", {"activation": "softmax", "axis": 1}), ("bce", {})])
def test_fake_tensors_and_symbolic_tracers_run_every_loss_and_leave_eager_calls_alone(name, params):
    """Fake tensors have no values to read (FakeTensorMode, make_fx, non-strict export), a
    symbolic batch size is no int, and a tensor made there must not be kept for eager calls."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.proxy_tensor import make_fx
    loss = crossloss.get(name, backend="torch", **params)
    rng = np.random.default_rng(3)
    y_true, y_pred = (torch.tensor(x) for x in cases.random_inputs(crossloss.spec(name), params, rng, (6, 3)))
    eager = loss(y_true, y_pred)
    with FakeTensorMode(allow_non_fake_inputs=True) as mode:
        fake = loss(mode.from_tensor(y_true), mode.from_tensor(y_pred))
    assert fake.shape == eager.shape and fake.dtype == eager.dtype
    with crossloss.options(value_checks="never"):
        graph = make_fx(lambda t, p: loss(t, p), tracing_mode="symbolic")(y_true, y_pred)
    torch.testing.assert_close(loss(y_true, y_pred), eager, rtol=0, atol=0)  # nothing fake was kept
    more = [torch.tensor(x) for x in cases.random_inputs(crossloss.spec(name), params, rng, (9, 3))]
    torch.testing.assert_close(graph(*more), loss(*more), rtol=1e-6, atol=1e-7)  # the batch stayed symbolic


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("name,params,pixels", [("scce", {"from_logits": True}, ()),
                                                ("dice", {"activation": "softmax", "axis": 1}, (8, 8))])
def test_non_strict_export_with_a_dynamic_batch_takes_a_mean(name, params, pixels):
    """The mean's count is symbolic there, and Dice's label sums compared theirs with 4096
    (where they turn float64): a guard 2 <= batch <= 63 that export refused."""
    import torch
    loss = crossloss.get(name, backend="torch", **params)

    class Step(torch.nn.Module):
        def forward(self, labels, logits):
            return loss(labels, logits)

    def batch_of(n):
        return torch.tensor(rng.integers(0, 5, (n,) + pixels)), torch.tensor(rng.normal(size=(n, 5) + pixels), dtype=torch.float32)

    rng = np.random.default_rng(4)
    batch = torch.export.Dim("batch", min=1, max=1024)  # a guard on a narrower range is refused
    program = torch.export.export(Step(), batch_of(2), dynamic_shapes=({0: batch}, {0: batch}), strict=False)
    labels, logits = batch_of(13)
    torch.testing.assert_close(program.module()(labels, logits), loss(labels, logits))


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
def test_a_users_dispatch_mode_runs_eager_checks_and_all():
    """FlopCounterMode (a TorchDispatchMode on real tensors) is no trace: values are read there."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    loss = crossloss.get("bce", backend="torch")
    with FlopCounterMode(display=False):
        with pytest.raises(crossloss.LossValueError, match="'y_pred' expected probabilities"):
            loss(torch.tensor([1.0, 0.0]), torch.tensor([0.5, 1.5]))
        value = loss(torch.tensor([1.0, 0.0]), torch.tensor([0.5, 0.25]))
    torch.testing.assert_close(value, loss(torch.tensor([1.0, 0.0]), torch.tensor([0.5, 0.25])))


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="tensorflow is not installed")
@pytest.mark.parametrize("jit_compile", [False, True])
def test_dice_sums_stay_accurate_where_a_graph_leaves_the_pixel_counts_unknown(jit_compile):
    """Unknown sizes cannot be split into blocks: the sums add in float64 at once. They fell
    back to TensorFlow's own float32 sums, one value at a time: 8.9% off at 1024 x 1024."""
    import tensorflow as tf
    y_pred = np.full((1, 1024, 1024, 2), [0.1, 0.9], np.float32)
    y_true = np.zeros(y_pred.shape, np.float32)
    y_true[..., 1] = 1.0
    loss = crossloss.get("dice", reduction="none")
    spec = tf.TensorSpec([None, None, None, 2], tf.float32)
    step = tf.function(lambda t, p: loss(t, p), input_signature=[spec, spec], jit_compile=jit_compile)
    p1 = float(np.float32(0.9))
    exact = 1 - (2 * p1 * 2**20 + 1e-5) / (p1 * 2**20 + 2**20 + 1e-5)
    np.testing.assert_allclose(step(tf.constant(y_true), tf.constant(y_pred)).numpy()[0, 1], exact, rtol=1e-6)


def _force_cudas_spread(monkeypatch):
    """CUDA's segment sums spread (backends/torch.py, _spread_segment_sum); CI has no GPU, so
    the tests below make the CPU take the same path: in traces and from 2^16 values."""
    import crossloss.backends.torch as torch_backend
    monkeypatch.setattr(torch_backend, "_spreads",
                        lambda x: torch_backend.TRACING() or x.numel() >= torch_backend._SPREAD_FROM)
    return torch_backend


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("dynamic", [False, True])
def test_cudas_spread_segment_sums_forced_on_the_cpu_trace_and_equal_index_add(monkeypatch, dynamic):
    """On CUDA, Dice's label sums spread each segment over many slots (backends/torch.py,
    _spread_segment_sum); CI has no GPU, so the spread is forced here. Eager above 2^16 values
    (a tail of fewer than the lanes added directly), and under torch.compile(fullgraph=True) for
    several batch sizes, with static segment counts (torch 2.11's Dynamo refused a sym_max of
    two ints) and symbolic ones (one graph for every batch): equal to index_add's plain sums."""
    import torch
    loss = crossloss.get("dice", backend="torch", axis=1, activation="softmax", ignore_index=2, reduction="none")
    generator = torch.Generator().manual_seed(6)
    inputs = [(torch.randint(0, 3, (batch, *pixels), generator=generator), torch.randn(batch, 3, *pixels, generator=generator))
              for batch, pixels in ((2, (257, 255)), (2, (16, 17)), (3, (16, 17)), (5, (16, 17)))]
    plain = [loss(y_true, y_pred) for y_true, y_pred in inputs]
    torch_backend = _force_cudas_spread(monkeypatch)
    spread, spreads = torch_backend._spread_segment_sum, []
    monkeypatch.setattr(torch_backend, "_spread_segment_sum", lambda *args: spreads.append(args[2]) or spread(*args))
    torch.testing.assert_close(loss(*inputs[0]), plain[0], rtol=1e-6, atol=1e-7)
    assert spreads == [6, 6], spreads  # the kept pixels per class and the intersections, over 2 x 3 segments
    monkeypatch.setattr(torch_backend, "_spread_segment_sum", spread)  # (a list in the trace would be guarded on)
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    compiled = torch.compile(loss, fullgraph=True, dynamic=dynamic, backend="eager")
    for (y_true, y_pred), want in zip(inputs[1:], plain[1:]):
        torch.testing.assert_close(compiled(y_true, y_pred), want, rtol=1e-6, atol=1e-7)
    if dynamic:
        assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 1


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("shared_labels", [False, True])
def test_cudas_spread_segment_sums_forced_on_the_cpu_run_under_vmap(monkeypatch, shared_labels):
    """The eager spread adds in place into a fresh array, but not under torch.func.vmap, where
    the values may be batched and the ids not (one label map for several predictions): each
    sample's loss and per-sample gradients, labels batched or shared."""
    import torch
    _force_cudas_spread(monkeypatch)
    loss = crossloss.get("dice", backend="torch", axis=1, activation="softmax", ignore_index=2, reduction="none")
    generator = torch.Generator().manual_seed(7)
    y_true = torch.randint(0, 3, (2, 2, 129, 255), generator=generator)  # 65,790 pixels a sample: spread
    y_pred = torch.randn(2, 2, 3, 129, 255, generator=generator)
    if shared_labels:
        y_true[1] = y_true[0]
    in_dims = (None, 0) if shared_labels else (0, 0)
    labels = y_true[0] if shared_labels else y_true
    per_sample = torch.func.grad(lambda t, p: loss(t, p).sum(), argnums=1)
    values = torch.func.vmap(loss, in_dims=in_dims)(labels, y_pred)
    grads = torch.func.vmap(per_sample, in_dims=in_dims)(labels, y_pred)
    for i in range(2):
        p = y_pred[i].clone().requires_grad_(True)
        value = loss(y_true[i], p)
        torch.testing.assert_close(values[i], value.detach(), rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(grads[i], torch.autograd.grad(value.sum(), p)[0], rtol=1e-5, atol=1e-8)
