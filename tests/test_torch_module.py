"""crossloss.torch: losses as nn.Modules in torch's order and class axis (issue 4's torch part)."""
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

import crossloss  # noqa: E402
import crossloss.torch  # noqa: E402
from crossloss import LossTypeError  # noqa: E402


@pytest.fixture
def segmentation():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 5, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 3, (2, 5, 4), generator=generator)
    labels[0, 0, :2] = 255
    return logits, labels


def test_forward_is_input_then_target_with_class_axis_one(segmentation):
    logits, labels = segmentation
    weight = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    module = crossloss.torch.get("scce", from_logits=True, ignore_index=255, class_weight=weight, label_smoothing=0.1)
    expected = F.cross_entropy(logits, labels, weight=weight, ignore_index=255, label_smoothing=0.1)
    torch.testing.assert_close(module(logits, labels), expected, rtol=1e-12, atol=1e-12)
    assert isinstance(module, torch.nn.Module) and "axis=1" in repr(module)


def test_modules_pickle_with_their_parameters(segmentation):
    logits, labels = segmentation
    module = crossloss.torch.get("dice", activation="softmax", squared=True, smooth_nr=0.0, ignore_index=255)
    copy = pickle.loads(pickle.dumps(module))
    assert copy.loss_params == module.loss_params and repr(copy) == repr(module)
    torch.testing.assert_close(copy(logits, labels), module(logits, labels))


def test_modules_move_with_to_and_run_on_meta(segmentation):
    logits, labels = segmentation
    module = crossloss.torch.get("scce", from_logits=True, class_weight=[1.0, 2.0, 3.0]).to("meta")
    out = module(logits.detach().to("meta"), labels.to("meta"))
    assert out.device.type == "meta" and out.shape == () and out.dtype == torch.float64


def test_compiled_module_equals_eager_with_gradients(segmentation):
    logits, labels = segmentation
    module = crossloss.torch.get("dice", activation="softmax", ignore_index=255)
    eager = module(logits, labels)
    (eager_grad,) = torch.autograd.grad(eager, logits)
    torch._dynamo.reset()
    compiled = torch.compile(module, fullgraph=True, backend="aot_eager")(logits, labels)
    (compiled_grad,) = torch.autograd.grad(compiled, logits)
    torch.testing.assert_close(compiled, eager)
    torch.testing.assert_close(compiled_grad, eager_grad)


@pytest.mark.parametrize("name,params", [("scce", {"from_logits": True}), ("dice", {"activation": "softmax"}),
                                         ("bce", {"from_logits": True}), ("kld", {"from_logits": True})])
def test_cpu_autocast_bfloat16_computes_in_float32(name, params):
    torch.manual_seed(0)
    model = torch.nn.Conv2d(4, 3, 1)
    images = torch.randn(2, 4, 6, 6)
    labels = torch.randint(0, 3, (2, 6, 6))
    target = {"bce": (torch.rand(2, 3, 6, 6) > 0.5).float(), "kld": torch.softmax(torch.randn(2, 3, 6, 6), 1)}.get(name, labels)
    module = crossloss.torch.get(name, **params)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(images)
        assert logits.dtype == torch.bfloat16
        loss = module(logits, target)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(model.weight.grad).all()
    reference = module(logits.float().detach(), target)  # the same bfloat16 values, in float32
    torch.testing.assert_close(loss.detach(), reference, rtol=1e-6, atol=1e-6)


def test_the_third_argument_is_the_sample_weight():
    module = crossloss.torch.get("mse", reduction="sum")
    out = module(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.zeros(2, 2), sample_weight=torch.tensor([1.0, 0.0]))
    assert float(out) == pytest.approx(5.0)
    assert np.isclose(float(crossloss.torch.get("huber", delta=2.0)(torch.tensor([3.0]), torch.tensor([0.0]))), 4.0)


@pytest.mark.parametrize("name, params, shape", [
    ("sparse_categorical_crossentropy", {}, (13, 5)),  # the mean divides by -13
    ("dice", {"axis": 1, "smooth_nr": 3e-5, "smooth_dr": 7e-5}, (3, 5, 4)),  # numbers no other test uses
])
def test_a_first_call_under_inference_mode_leaves_later_calls_differentiable(name, params, shape):
    """torch's CPU path keeps scalar constants between calls; made under inference mode they
    could not be saved for backward, and training after an evaluation would fail."""
    rng = np.random.default_rng(4)
    probabilities = torch.softmax(torch.as_tensor(rng.normal(size=shape)), dim=1)
    labels = torch.as_tensor(rng.integers(0, shape[1], (shape[0],) + shape[2:]))
    loss = crossloss.get(name, backend="torch", **params)
    with torch.inference_mode():
        evaluated = loss(labels, probabilities)
    y_pred = probabilities.clone().requires_grad_()
    trained = loss(labels, y_pred)
    trained.backward()
    assert torch.equal(trained.detach(), evaluated)
    assert y_pred.grad is not None and torch.isfinite(y_pred.grad).all()


def test_a_deep_copy_keeps_hooks_and_mode(segmentation):
    """copy.deepcopy (as EMA and checkpointing code does) copies the whole module."""
    import copy
    logits, labels = segmentation
    module = crossloss.torch.get("dice", activation="softmax", ignore_index=255).eval()
    seen = []
    module.register_forward_hook(lambda mod, args, out: seen.append(float(out)))
    twin = copy.deepcopy(module)
    module(logits, labels)
    twin(logits, labels)
    assert len(seen) == 2 and seen[0] == seen[1] and not twin.training


@pytest.mark.parametrize("args,argument", [
    ((torch.randn(2, 3, 4), torch.randint(0, 3, (2, 5))), "'target'"),
    ((torch.randn(2, 3), torch.tensor([0, 5])), "'target'"),
    ((torch.randn(2, 3), torch.tensor([0, 1]), torch.ones(3)), "'sample_weight'"),
])
def test_errors_name_forward_s_arguments(args, argument):
    """forward(input, target, sample_weight): an error says target, not crossloss's y_true."""
    with pytest.raises(crossloss.LossValueError) as info:
        crossloss.torch.get("scce", from_logits=True)(*args)
    message = str(info.value)
    assert argument in message and "y_true" not in message and "y_pred" not in message


@pytest.mark.parametrize("name,labels,scores", [("scce", torch.tensor([0, 1, 2, 1]), torch.rand(4, 3)),
                                               ("dice", torch.randint(0, 3, (2, 4, 4)), torch.rand(2, 3, 4, 4))])
def test_labels_given_first_in_kerass_order_are_named_as_such(name, labels, scores):
    """A module takes (input, target); labels first read "expected an axis of input, which has
    shape (4,)" with no word of the order (a helper's audit)."""
    with pytest.raises(crossloss.LossValueError, match=r"\(a module takes \(input, target\), torch's order: integer "
                                                       r"labels came as input\)$"):
        crossloss.torch.get(name)(labels, scores)
    with pytest.raises(crossloss.LossValueError) as info:  # the right order's errors stay as they were
        crossloss.torch.get(name)(scores, labels + 5)
    assert "torch's order" not in str(info.value)


def test_a_0d_cpu_weight_follows_y_pred_s_device_and_others_are_refused_by_name():
    """torch's ops take a 0-d CPU tensor beside device tensors as a number; a weight of any
    other shape on another device is a clear error, not torch's device message."""
    y_true, y_pred = torch.rand(4, 3, device="meta"), torch.rand(4, 3, device="meta")
    loss = crossloss.get("mse", backend="torch")
    out = loss(y_true, y_pred, torch.tensor(2.0))
    assert out.device.type == "meta" and out.shape == ()
    with pytest.raises(crossloss.LossValueError, match=r"'sample_weight' expected a tensor on y_pred's device, meta"):
        loss(y_true, y_pred, torch.ones(4))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int32, torch.uint16, torch.uint32, torch.uint64,
                                   torch.bool])
@pytest.mark.parametrize("params", [{"from_logits": True}, {}])
def test_labels_of_every_integer_dtype(dtype, params):
    """torch has no min of uint16/32/64, which the labels' read of the fused kernel took."""
    torch.manual_seed(0)
    x = torch.randn(4, 2)
    labels = torch.tensor([0, 1, 1, 0])
    y_pred = x if params else torch.softmax(x, 1)
    loss = crossloss.get("scce", backend="torch", **params)
    torch.testing.assert_close(loss(labels.to(dtype), y_pred), loss(labels, y_pred))
    if dtype is not torch.bool:
        with pytest.raises(crossloss.LossValueError, match="got values from 0 to 5"):
            loss(torch.tensor([0, 1, 5, 0]).to(dtype), y_pred)


def test_class_weights_are_read_when_the_module_is_built():
    """No buffers: what the module computes with is what its repr shows, whatever happens to
    the tensor it was given."""
    weight = torch.tensor([1.0, 2.0, 3.0])
    module = crossloss.torch.get("scce", from_logits=True, class_weight=weight)
    x, labels = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    before, shown = module(x, labels), repr(module)
    weight[0] = 10.0
    assert torch.equal(module(x, labels), before) and repr(module) == shown and "10." not in shown
    torch.testing.assert_close(before, F.cross_entropy(x, labels, weight=torch.tensor([1.0, 2.0, 3.0])))


def test_an_unknown_keyword_of_forward_is_refused_in_torchs_names():
    criterion = crossloss.torch.get("cce")
    with pytest.raises(LossTypeError, match=r"argument 'y_true' expected an argument of the call \(input, target, "
                                            r"sample_weight\); got the keyword 'y_true'; did you mean 'target'\?"):
        criterion(torch.ones(2, 3), y_true=torch.ones(2, 3))
    with pytest.raises(LossTypeError, match="'class_weight' is a parameter of the loss"):
        criterion(torch.ones(2, 3), torch.ones(2, 3), weight=torch.ones(3))


def test_reduction_reads_and_sets_as_torch_nn_losses_do():
    """torch.nn users switch a criterion to "none" for per-sample logging."""
    criterion = crossloss.torch.get("mse")
    y_pred, y_true = torch.tensor([0.0, 2.0]), torch.tensor([1.0, 1.0])
    assert criterion.reduction == "mean" and criterion(y_pred, y_true).item() == 1.0
    criterion.reduction = "none"
    assert criterion(y_pred, y_true).tolist() == [1.0, 1.0] and "reduction='none'" in repr(criterion)
    with pytest.raises(crossloss.LossValueError, match="argument 'reduction'"):
        criterion.reduction = "avg"
    assert criterion.reduction == "none"  # a refused value leaves the module as it was


def test_parameters_set_as_attributes_rebind_the_loss_as_torch_modules_read_theirs(segmentation):
    """torch's loss modules read weight, delta, ignore_index... on every forward, and
    re-weighting classes per epoch by assignment is common: an attribute that read back the
    new value while the loss kept the old one gave silently wrong numbers."""
    logits, labels = segmentation
    module = crossloss.torch.get("scce", from_logits=True, ignore_index=255)
    weight = torch.tensor([1.0, 5.0, 1.0], dtype=torch.float64)
    module.class_weight = weight
    module.label_smoothing = 0.2
    expected = F.cross_entropy(logits, labels, weight=weight, ignore_index=255, label_smoothing=0.2)
    torch.testing.assert_close(module(logits, labels), expected, rtol=1e-12, atol=1e-12)
    assert module.label_smoothing == 0.2 and "label_smoothing=0.2" in repr(module)
    huber = crossloss.torch.get("huber")
    huber.delta = 0.1
    x, y = logits.detach(), torch.zeros_like(logits)
    torch.testing.assert_close(huber(x, y), F.huber_loss(x, y, delta=0.1), rtol=1e-12, atol=0)
    copy = pickle.loads(pickle.dumps(huber))
    assert copy.delta == 0.1 and copy.loss_params == huber.loss_params


def test_attributes_a_loss_would_ignore_are_refused(segmentation):
    logits, labels = segmentation
    module = crossloss.torch.get("scce", from_logits=True, ignore_index=255)
    before = module(logits, labels)
    with pytest.raises(LossTypeError, match="'weight'.*did you mean 'class_weight'"):
        module.weight = torch.ones(3)  # torch's name of class_weight
    with pytest.raises(ValueError, match="label_smoothing"):
        module.label_smoothing = 2.0
    with pytest.raises(TypeError):
        module.loss_params["ignore_index"] = 0  # read-only: it would not rebind
    torch.testing.assert_close(module(logits, labels), before)  # a refused setting changed nothing
    module.note = "any other attribute"  # a module's own attributes stay free
    assert module.note == "any other attribute"
