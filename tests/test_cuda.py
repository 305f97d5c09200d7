"""The torch backend on a CUDA device: no call reads the device back, losses replay in CUDA
graphs, compile with inductor, compute in float32 under CUDA autocast, and labels out of
range stop at a device assert instead of giving a number. Values and gradients against the
reference and the CPU are the conformance harness's "torch:cuda" checks (test_conformance.py).

These run only where torch sees a GPU: CI's machine has none. benchmarks/gpu.sh runs them on
one (README, "On a CUDA GPU").
"""
import subprocess
import sys
import textwrap
from contextlib import contextmanager

import pytest

torch = pytest.importorskip("torch")

import crossloss  # noqa: E402
import crossloss.torch  # noqa: E402
from crossloss.conformance import cases as catalogue  # noqa: E402
from crossloss.conformance.frameworks import to_backend  # noqa: E402

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@contextmanager
def no_host_sync():
    """Any operation that waits for the device (a read back, a blocking copy) raises."""
    torch.cuda.synchronize()
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode(previous)


def on_cuda(case, dtype):
    y_true, y_pred, weight = (to_backend("torch:cuda", a, dtype) for a in (case.y_true, case.y_pred, case.sample_weight))
    return y_true, y_pred.requires_grad_(True), weight


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("name", crossloss.list_losses())
def test_no_call_waits_for_the_device(name, dtype):
    """Every catalogue case and reduction, forward and backward, after a first call (which
    binds the loss: weights given as arrays are copied to the device once)."""
    for case in catalogue.all_cases(name):
        for reduction in ("mean", "sum", "none"):
            loss = crossloss.get(case.loss, backend="torch", reduction=reduction, **case.params)
            y_true, y_pred, weight = on_cuda(case, dtype)
            loss(y_true, y_pred, weight)
            with no_host_sync():
                out = loss(y_true, y_pred, weight)
                grad = torch.autograd.grad(out.sum(), y_pred, allow_unused=True)[0] if out.requires_grad else None
            assert out.device.type == "cuda", (case.name, reduction)
            assert out.dtype == torch.float32, (case.name, reduction, out.dtype)
            assert grad is None or grad.device.type == "cuda"


GRAPH_CASES = [
    ("mean_squared_error", {}),
    ("huber", {"delta": 0.5}),
    ("binary_crossentropy", {"from_logits": True, "pos_weight": 2.0}),
    ("binary_crossentropy", {"label_smoothing": 0.1}),
    ("categorical_crossentropy", {"from_logits": True, "label_smoothing": 0.1}),
    ("sparse_categorical_crossentropy", {"from_logits": True, "ignore_index": -100, "class_weight": [1.0, 2.0, 0.5, 1.0]}),
    ("sparse_categorical_crossentropy", {}),
    ("kl_divergence", {"from_logits": True}),
    ("dice", {"activation": "softmax", "ignore_index": 3}),
]


def inputs_for(name, params, generator):
    """(y_true, y_pred) of shape (8, 4) on CUDA, drawn from ``generator``."""
    def rand(*shape):
        return torch.rand(*shape, generator=generator, device="cpu").cuda()
    labels = torch.randint(0, 4, (8,), generator=generator).cuda()
    if name in ("sparse_categorical_crossentropy", "dice"):
        if params.get("ignore_index") == -100:
            labels[::3] = -100
        y_pred = rand(8, 4) * 6 - 3
        return labels, (y_pred if params.get("from_logits") or params.get("activation") else y_pred.softmax(-1))
    if name in ("categorical_crossentropy", "kl_divergence"):
        return (rand(8, 4) + 0.1).softmax(-1), rand(8, 4) * 6 - 3
    if name == "binary_crossentropy":
        y_pred = rand(8, 4) * 6 - 3
        return (rand(8, 4) > 0.5).float(), (y_pred if params.get("from_logits") else y_pred.sigmoid())
    return rand(8, 4), rand(8, 4) * 4 - 2


@pytest.mark.parametrize("name,params", GRAPH_CASES)
def test_a_training_step_replays_in_a_cuda_graph(name, params):
    """Capture fails on any host sync; each replay on new inputs equals an eager call."""
    loss = crossloss.get(name, backend="torch", **params)
    generator = torch.Generator().manual_seed(0)
    static_true, static_pred = inputs_for(name, params, generator)
    static_pred.requires_grad_(True)

    def step():
        value = loss(static_true, static_pred)
        return value, torch.autograd.grad(value, static_pred)[0]

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up off the default stream, as capture requires
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_value, static_grad = step()
    for _ in range(3):
        new_true, new_pred = inputs_for(name, params, generator)
        static_true.copy_(new_true)
        with torch.no_grad():
            static_pred.copy_(new_pred)
        graph.replay()
        eager_pred = new_pred.clone().requires_grad_(True)
        eager = loss(new_true, eager_pred)
        (eager_grad,) = torch.autograd.grad(eager, eager_pred)
        # (equal to float32's rounding: index_add's atomics add in any order)
        torch.testing.assert_close(static_value, eager)
        torch.testing.assert_close(static_grad, eager_grad)


@pytest.mark.parametrize("name,params", [GRAPH_CASES[2], GRAPH_CASES[5], GRAPH_CASES[8]])
def test_inductor_compiles_the_loss_and_its_gradient_to_eagers_numbers(name, params):
    torch._dynamo.reset()
    loss = crossloss.get(name, backend="torch", **params)
    y_true, y_pred = inputs_for(name, params, torch.Generator().manual_seed(1))
    y_pred.requires_grad_(True)

    compiled = torch.compile(loss, fullgraph=True)  # inductor: Triton kernels, its backward too
    results = []
    for fn in (compiled, loss):
        value = fn(y_true, y_pred)
        results.append((value, torch.autograd.grad(value, y_pred)[0]))
    for got, expected in zip(*results):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)  # float32's, as the harness's


AUTOCAST_CASES = [
    ("sparse_categorical_crossentropy", {"from_logits": True}),
    ("dice", {"activation": "softmax"}),
    ("binary_crossentropy", {"from_logits": True}),
    ("binary_crossentropy", {}),  # torch refuses its own binary_cross_entropy under CUDA autocast
    ("kl_divergence", {"from_logits": True}),
    ("categorical_crossentropy", {}),
    ("mean_squared_error", {}),
]


@pytest.mark.parametrize("autocast_dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name,params", AUTOCAST_CASES)
def test_cuda_autocast_computes_in_float32(name, params, autocast_dtype):
    torch.manual_seed(0)
    model = torch.nn.Conv2d(4, 3, 1).cuda()
    images = torch.randn(2, 4, 6, 6, device="cuda")
    labels = torch.randint(0, 3, (2, 6, 6), device="cuda")
    soft = torch.softmax(torch.randn(2, 3, 6, 6, device="cuda"), 1)
    target = {"binary_crossentropy": (soft > 0.3).float(), "kl_divergence": soft, "categorical_crossentropy": soft,
              "mean_squared_error": soft}.get(name, labels)
    module = crossloss.torch.get(name, **params)
    with torch.autocast("cuda", dtype=autocast_dtype):
        out = model(images)
        assert out.dtype == autocast_dtype
        y_pred = out if params.get("from_logits") or params.get("activation") or name == "mean_squared_error" else (
            torch.sigmoid(out) if name == "binary_crossentropy" else torch.softmax(out, 1))
        loss = module(y_pred, target)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(model.weight.grad).all()
    reference = module(y_pred.float().detach(), target)  # the same half-precision values, in float32
    torch.testing.assert_close(loss.detach(), reference, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("value_checks", ["auto", "always"])
def test_bce_on_probabilities_evaluates_under_cuda_autocast(value_checks):
    """torch refuses binary_cross_entropy under CUDA autocast. With a gradient wanted and
    nothing read, the formula ran anyway (the test above); without one (an evaluation loop),
    or with the probabilities read, the fused kernel would be chosen."""
    probabilities = torch.rand(8, 3, device="cuda") * 0.98 + 0.01
    targets = (torch.rand(8, 3, device="cuda") > 0.5).float()
    loss = crossloss.get("bce")
    expected, expected_half = (torch.nn.functional.binary_cross_entropy(p.double(), targets.double())
                               for p in (probabilities, probabilities.half()))
    leaf = probabilities.clone().requires_grad_(True)
    with crossloss.options(value_checks=value_checks), torch.autocast("cuda", dtype=torch.float16):
        with torch.no_grad():
            evaluated = loss(targets, probabilities.half())
        trained = loss(targets, leaf)
    for out in (evaluated, trained):
        assert out.dtype == torch.float32
    torch.testing.assert_close(trained.double(), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(evaluated.double(), expected_half, rtol=1e-5, atol=1e-6)


def test_a_module_moved_to_cuda_takes_its_class_weights_along():
    weights = [0.5, 2.0, 1.0]
    logits, labels = torch.randn(16, 3, 5), torch.randint(0, 3, (16, 5))
    module = crossloss.torch.get("scce", from_logits=True, class_weight=weights)
    on_cpu = module(logits, labels)
    on_gpu = module.to("cuda")(logits.cuda(), labels.cuda())
    assert on_gpu.device.type == "cuda"
    expected = torch.nn.functional.cross_entropy(logits.double(), labels, weight=torch.tensor(weights).double())
    torch.testing.assert_close(on_gpu.cpu().double(), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,params,label", [
    ("sparse_categorical_crossentropy", {}, 7),
    ("sparse_categorical_crossentropy", {"from_logits": True}, 7),
    ("sparse_categorical_crossentropy", {"from_logits": True, "ignore_index": -100}, -5),
    ("sparse_categorical_crossentropy", {"label_smoothing": 0.1, "class_weight": [1.0, 1.0, 2.0]}, -2),
    ("dice", {}, 3),
    ("dice", {"activation": "softmax", "ignore_index": 255}, -1),
])
def test_a_label_out_of_range_stops_at_a_device_assert(name, params, label):
    """No value check reads CUDA labels (a sync); the gather or scatter asserts on the device
    instead, which ends the process's CUDA context: each case runs in its own process."""
    script = textwrap.dedent(f"""
        import torch, crossloss
        labels = torch.zeros(4, 5, dtype=torch.int64)
        labels[1, 2] = {label}
        y_pred = torch.rand(4, 3, 5).softmax(1)
        out = crossloss.get({name!r}, axis=1, **{params!r})(labels.cuda(), y_pred.cuda())
        print("value", float(out))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "value" not in done.stdout, done.stdout
    assert "device-side assert" in done.stderr, done.stderr[-2000:]


@pytest.mark.parametrize("params", [{}, {"ignore_index": 2}, {"squared": True, "batch": True}])
def test_dice_with_labels_sums_many_pixels_into_few_segments_exactly(params):
    """Above 2^16 pixels a CUDA segment sum spreads each (sample, class) over many slots
    (atomics on 6 addresses serialise); 2 x 257 x 255 pixels leave a tail that is added
    directly. Against the one-hot formula in float64 on the CPU."""
    generator = torch.Generator().manual_seed(3)
    p = torch.softmax(torch.randn(2, 3, 257, 255, generator=generator), 1)
    labels = torch.randint(0, 3, (2, 257, 255), generator=generator)
    out = crossloss.get("dice", axis=1, reduction="none", **params)(labels.cuda(), p.cuda())
    dense = torch.nn.functional.one_hot(labels, 3).movedim(-1, 1).double()
    kept = torch.ones_like(dense)
    if "ignore_index" in params:
        dense[:, 2], kept = 0.0, (labels != 2).double().unsqueeze(1)
    q = p.double() * kept
    dims = (0, 2, 3) if params.get("batch") else (2, 3)
    power = 2 if params.get("squared") else 1
    intersection, predicted, targets = (q * dense).sum(dims), (q ** power).sum(dims), (dense ** power).sum(dims)
    expected = 1 - (2 * intersection + 1e-5) / (predicted + targets + 1e-5)
    torch.testing.assert_close(out.cpu().double(), expected, rtol=1e-5, atol=1e-6)  # float32's, as the harness's


def test_dice_with_labels_compiles_one_graph_for_every_batch_size():
    """A graph spreads its segment sums too (inductor's index_add is atomic), at a symbolic
    count of segments where the batch is dynamic: one graph, no guard on the batch size
    (past Dynamo's limit of 8 graphs fullgraph=True would fail)."""
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    loss = crossloss.get("dice", axis=1, activation="softmax")
    compiled = torch.compile(loss, fullgraph=True, dynamic=True)
    generator = torch.Generator().manual_seed(4)
    for batch in range(2, 12):
        logits = torch.randn(batch, 3, 64, 65, generator=generator).cuda()
        labels = torch.randint(0, 3, (batch, 64, 65), generator=generator).cuda()
        torch.testing.assert_close(compiled(labels, logits), loss(labels, logits), rtol=1e-5, atol=1e-6)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 1


def test_large_label_sums_wait_for_nothing_and_replay_in_a_cuda_graph():
    """Above 2^16 pixels the eager segment sums spread (scatters into (segment, lane) cells,
    a tail into lane 0): no sync there either, forward and backward, and a capture replays them."""
    loss = crossloss.get("dice", axis=1, activation="softmax", ignore_index=2)
    generator = torch.Generator().manual_seed(5)
    logits = torch.randn(2, 3, 257, 255, generator=generator).cuda().requires_grad_(True)
    labels = torch.randint(0, 3, (2, 257, 255), generator=generator).cuda()
    # Eager calls on leaves of their own: a graph kept alive from the default stream keeps its
    # leaf's gradient accumulator there, and capture fails on it (torch 2.11 warns so).
    eager_logits = logits.detach().clone().requires_grad_(True)
    expected = loss(labels, eager_logits)
    (expected_grad,) = torch.autograd.grad(expected, eager_logits)
    with no_host_sync():
        value = loss(labels, eager_logits)
        (grad,) = torch.autograd.grad(value, eager_logits)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            torch.autograd.grad(loss(labels, logits), logits)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_value = loss(labels, logits)
        (static_grad,) = torch.autograd.grad(static_value, logits)
    graph.replay()
    for got, want in ((value, expected), (grad, expected_grad), (static_value, expected), (static_grad, expected_grad)):
        torch.testing.assert_close(got, want)  # (float32's rounding: the atomics add in any order)
