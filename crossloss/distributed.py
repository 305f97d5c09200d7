"""Global means under data parallelism, with the frameworks' own engines.

A replica that averages its own shard is wrong whenever shards hold different counts (labels
left out by ``ignore_index``, masks, sample weights, class weights). Use the loss's parts:

    total, count = loss.parts(y_true, y_pred, sample_weight)     # this replica's shard
    value = crossloss.distributed.global_mean(total, count)
    value.backward()                                              # torch DDP
    # or, in tf.distribute's replica context: gradients of value, summed by the strategy

``global_mean`` all-reduces the count (never the gradient path) and returns the value whose
gradient, after the engine's own reduction of gradients, is the gradient of
sum over all replicas / count over all replicas: torch DDP averages gradients over the world,
so the value is multiplied by the world size; tf.distribute sums them. Outside a distributed
context it is ``total / count``. A count of 0 everywhere gives 0 (``Ops.ratio_or_zero``), as
the loss's own mean does, even where label smoothing leaves a sum.
"""
from __future__ import annotations

import sys


def global_mean(total, count):
    """The replica's share of the global mean (see the module docstring)."""
    if "torch" in sys.modules and isinstance(total, sys.modules["torch"].Tensor):
        return _torch_global_mean(total, count)
    if "tensorflow" in sys.modules and isinstance(total, sys.modules["tensorflow"].Tensor):
        return _tf_global_mean(total, count)
    return total / count if count else total * 0


def _torch_global_mean(total, count):
    import torch
    import torch.distributed as dist
    count = torch.as_tensor(count, dtype=total.dtype, device=total.device).detach().clone()
    world = 1
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(count)  # a sum of counts: no gradient flows through it
        world = dist.get_world_size()
    return _ops("torch").ratio_or_zero(total * world, count)


def _tf_global_mean(total, count):
    import tensorflow as tf
    count, _ = tf_count_over_replicas(tf.cast(count, total.dtype))
    return _ops("tensorflow").ratio_or_zero(total, count)


def tf_count_over_replicas(count):
    """(the sum of ``count`` over tf.distribute's replicas in sync, their number): (count, 1)
    outside a strategy. The count carries no gradient."""
    import tensorflow as tf
    count = tf.stop_gradient(count)
    context = _tf_replica_context()
    if context is not None:
        return context.all_reduce(tf.distribute.ReduceOp.SUM, count), context.num_replicas_in_sync
    return count, 1


def tf_replicas_in_sync(ops) -> bool:
    """A TensorFlow replica context of more than one replica (tf.distribute) is current."""
    return ops.name == "tensorflow" and _tf_replica_context() is not None


def _tf_replica_context():
    """tf.distribute's replica context where more than one replica runs in sync, else None."""
    import tensorflow as tf
    context = tf.distribute.get_replica_context()
    return context if context is not None and context.num_replicas_in_sync > 1 else None


def _ops(backend):
    from . import backends
    return backends.load(backend).OPS
