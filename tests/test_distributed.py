"""Data parallelism with the frameworks' own engines (real process groups and strategies):
shards whose counts differ (ignored labels) give the single-process loss and gradients,
through Loss.parts and crossloss.distributed.global_mean; a per-replica mean would not."""
import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import crossloss

from conftest import BACKENDS

SCRIPTS = pathlib.Path(__file__).with_name("scripts")


def run(script):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, str(SCRIPTS / script)], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(next(line for line in done.stdout.splitlines() if line.startswith("JSON"))[4:])


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch backend not installed")
def test_torch_ddp_two_processes_equal_one_process():
    for label, result in run("ddp_check.py").items():
        (value, grad, naive, count_kept), (single_value, single_grad) = result["ddp"], result["single"]
        assert value == pytest.approx(single_value, rel=1e-6, abs=1e-12), label
        assert count_kept, label  # reduced in place, a second global_mean of the parts gave another value
        np.testing.assert_allclose(grad, single_grad, rtol=1e-6, atol=1e-12, err_msg=label)
        if "sparse" in label:  # the shards' counts differ: averaging per-replica means is wrong
            assert abs(naive - single_value) > 1e-3


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="tensorflow backend not installed")
def test_mirrored_strategy_custom_loop_and_keras_fit_equal_one_device():
    result = run("mirrored_check.py")
    (single_value, single_grad), (value, grad, naive) = result["single"], result["mirrored"]
    assert value == pytest.approx(single_value, rel=1e-6)
    np.testing.assert_allclose(grad, single_grad, rtol=1e-6, atol=1e-12)
    assert abs(naive - single_value) > 1e-3
    # a NumPy total in a replica context: each replica would return its own mean
    assert result["numpy_in_replica"] and all("global_mean: argument 'total' expected a torch or TensorFlow tensor "
                                              "where replicas run" in m for m in result["numpy_in_replica"])
    for case in ("keras_fit", "keras_fit_ignored"):  # (losses per epoch, trained kernel) on 1 and 2 devices
        (one, one_kernel), (two, two_kernel) = result[case]
        np.testing.assert_allclose(two, one, rtol=1e-6, err_msg=case)
        np.testing.assert_allclose(two_kernel, one_kernel, rtol=1e-5, atol=1e-7, err_msg=case)
    # Dice with batch=True trained each replica on its own shard's Dice (0.505 against one device's 0.674)
    assert "dice: argument 'batch' expected values per sample under tf.distribute" in result["keras_fit_batch_dice"]
    assert all(math.isfinite(v) for v in result["keras_fit_batch_dice_one_device"])
    for case in ("keras_fit_uneven_mse", "keras_fit_uneven_scce", "keras_fit_uneven_dice"):
        # a last batch split 4 + 3: the replicas' means differ in count, and Keras's loss tracker
        # weighs the replicas' reported values by their shards; the reported losses were off
        # (0.4167 for one device's 0.4107 in a helper's audit), now only the slopes are scaled apart
        (one, one_kernel), (two, two_kernel) = result[case]
        np.testing.assert_allclose(two, one, rtol=1e-6, err_msg=case)
        np.testing.assert_allclose(two_kernel, one_kernel, rtol=1e-5, atol=1e-7, err_msg=case)


def test_parts_of_shards_add_up_to_torch_batchmean():
    """compat='torch' KL's "batchmean" divides by the batch size: parts() counts rows, not entries."""
    import crossloss
    rng = np.random.default_rng(0)
    targets, log_q = rng.dirichlet(np.ones(3), 8), np.log(rng.dirichlet(np.ones(3), 8))
    loss = crossloss.get("kld", compat="torch", reduction="batchmean")
    (s1, c1), (s2, c2) = loss.parts(targets[:3], log_q[:3]), loss.parts(targets[3:], log_q[3:])
    assert (s1 + s2) / (c1 + c2) == pytest.approx(float(loss(targets, log_q)), rel=1e-12)


@pytest.mark.parametrize("params", [{"batch": True}, {"compat": "keras"}])
def test_parts_refuses_a_loss_whose_values_span_the_batch(params):
    """Dice over the whole batch (batch=True, or Keras's one Dice over every entry): the shards'
    Dice values do not add up to the batch's, so there are no parts to all-reduce."""
    import crossloss
    rng = np.random.default_rng(1)
    y_true, y_pred = np.eye(3)[rng.integers(0, 3, 8)], rng.dirichlet(np.ones(3), 8)
    with pytest.raises(crossloss.LossValueError, match="per sample"):
        crossloss.get("dice", **params).parts(y_true, y_pred)


@pytest.mark.parametrize("backend", [b for b in ("torch", "tensorflow") if b in BACKENDS])
def test_the_count_carries_no_gradient(backend):
    """A count built from weights being learnt (sum of sample weights) takes no gradient: the
    engines all-reduce it outside autograd, and a replica's own slope through it would be wrong."""
    import crossloss.distributed
    if backend == "torch":
        import torch
        weight = torch.tensor(2.0, requires_grad=True)
        total = torch.tensor(6.0) * weight
        crossloss.distributed.global_mean(total, weight * 1.0).backward()
        assert weight.grad.item() == pytest.approx(3.0)  # d(6 w / c)/dw at c = 2, c held
        return
    import tensorflow as tf
    weight = tf.Variable(2.0)
    with tf.GradientTape() as tape:
        value = crossloss.distributed.global_mean(6.0 * weight, weight * 1.0)
    assert float(tape.gradient(value, weight)) == pytest.approx(3.0)


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
def test_a_count_that_requires_grad_is_read_without_a_warning():
    """torch warns, once a process (so in a process of its own here), when a tensor that
    requires grad becomes a Python number: the count is read with item()."""
    code = ("import warnings, torch, crossloss.distributed; warnings.simplefilter('error'); "
            "w = torch.tensor(2.0, requires_grad=True); "
            "crossloss.distributed.global_mean(torch.tensor(6.0) * w, w * 1.0).backward(); assert w.grad == 3.0")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]


def _bad_global_means():
    """(total, count, error, message): each was accepted (a vector, a negative mean, two
    frameworks mixed) or failed with a bare TypeError naming nothing."""
    cases = [("a", 1, crossloss.LossTypeError, "'total' expected a NumPy array, a Python number or a tensor"),
             (None, 1, crossloss.LossTypeError, "'total' expected a number"),
             (6.0, -1.0, crossloss.LossValueError, "'count' expected a number of entries (>= 0); got -1.0"),
             (6.0, np.nan, crossloss.LossValueError, "'count' expected a number of entries")]
    if "torch" in BACKENDS:
        import torch
        cases += [(torch.ones(3), torch.tensor(3.0), crossloss.LossTypeError, "'total' expected a 0-d floating torch tensor"),
                  (torch.tensor(3.0), torch.ones(3), crossloss.LossTypeError, "'count' expected a 0-d torch tensor"),
                  (torch.tensor(3.0), torch.tensor(True), crossloss.LossTypeError, "'count' expected a 0-d torch")]
        cases += [(torch.tensor(3.0), torch.tensor(-2.0), crossloss.LossValueError, "'count' expected a number of "
                   "entries (>= 0); got -2.0"),  # an eager CPU tensor is read
                  (6.0, torch.tensor(3.0), crossloss.LossTypeError, "'count' expected a number like 'total' (a tensor "
                   "count takes a tensor total of its framework)")]
        if "tensorflow" in BACKENDS:
            import tensorflow as tf
            cases.append((torch.tensor(3.0), tf.constant(2.0), crossloss.LossTypeError, "'count' expected a 0-d torch"))
    return cases


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch backend not installed")
def test_global_mean_of_a_number_count_compiles():
    """Its input check took np.ndim of a Python number, which dynamo cannot trace: fullgraph failed."""
    import torch
    import crossloss.distributed
    step = torch.compile(lambda total: crossloss.distributed.global_mean(total, 2), fullgraph=True, backend="eager")
    assert float(step(torch.tensor(3.0))) == 1.5


@pytest.mark.parametrize("total,count,error,message", _bad_global_means())
def test_global_mean_refuses_what_is_no_loss_sum_or_count(total, count, error, message):
    import crossloss.distributed
    with pytest.raises(error) as info:
        crossloss.distributed.global_mean(total, count)
    assert str(info.value).startswith("global_mean: argument") and message in str(info.value)


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch backend not installed")
def test_global_mean_refuses_numpy_values_in_a_process_group(tmp_path):
    """A NumPy total cannot be all-reduced: each rank returned its own mean (3/1 and 3/2 where
    the global mean is 6/3)."""
    import torch
    import torch.distributed as dist
    import crossloss.distributed
    assert float(crossloss.distributed.global_mean(np.float64(6.0), 3)) == 2.0  # no group: the plain mean
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        with pytest.raises(crossloss.LossTypeError, match="'total' expected a torch or TensorFlow tensor where "
                                                          "replicas run"):
            crossloss.distributed.global_mean(np.float64(6.0), 3)
        assert float(crossloss.distributed.global_mean(torch.tensor(6.0), 3)) == 2.0
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="tensorflow backend not installed")
def test_tf_count_over_replicas_takes_a_tensorflow_scalar():
    import crossloss.distributed
    with pytest.raises(crossloss.LossTypeError, match="tf_count_over_replicas: argument 'count' expected a 0-d"):
        crossloss.distributed.tf_count_over_replicas("x")
