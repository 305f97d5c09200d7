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

import numbers
import sys

import numpy as np

from . import dispatch
from .errors import bad_type, bad_value, describe


def global_mean(total, count):
    """The replica's share of the global mean (see the module docstring): ``total`` and
    ``count`` are one replica's ``loss.parts()``, scalars of one framework (a count may be a
    Python or NumPy number). NumPy values are refused where replicas run: they could not be
    all-reduced, and each replica's own mean is the wrong number there."""
    framework = dispatch.framework_of("global_mean", "total", total)  # None: NumPy or a number
    _check_scalar("total", total, framework)
    _check_scalar("count", count, framework)
    known = _readable(count)
    if known is not None and not known >= 0:  # (NaN too)
        raise bad_value("global_mean", "count", "a number of entries (>= 0)", repr(known))
    if framework == "torch":
        return _torch_global_mean(total, count)
    if framework == "tensorflow":
        return _tf_global_mean(total, count)
    if _torch_group() or _tf_replica_context() is not None:
        raise bad_type("global_mean", "total", "a torch or TensorFlow tensor where replicas run (a NumPy value "
                       "is not all-reduced: each replica would return its own mean)", describe(total))
    return total / count if count else total * 0


def _check_scalar(argument, x, framework):
    """One real number: a 0-d tensor of ``framework`` (None: NumPy), or a Python or NumPy
    number. ``total`` is a floating tensor (a loss's sum); a count may also be an integer one."""
    found = dispatch.framework_of("global_mean", argument, x)
    if found is None:  # (no np.ndim of a Python number: torch.compile cannot trace it)
        fits = ((isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))
                 or isinstance(x, np.ndarray) and x.ndim == 0 and x.dtype.kind in "iuf")
                and (framework is None or argument == "count"))
    elif found != framework:
        fits = False
    elif found == "torch":
        fits = x.dim() == 0 and (x.is_floating_point() or argument == "count" and not x.is_complex()
                                 and x.dtype is not sys.modules["torch"].bool)
    else:
        fits = x.shape.rank in (0, None) and (x.dtype.is_floating or argument == "count" and x.dtype.is_integer)
    if not fits:
        if framework:
            expected = (f"a 0-d {framework} tensor like 'total' (floating, or integer) or a number" if argument == "count"
                        else f"a 0-d floating {framework} tensor")
        elif argument == "count" and found:
            expected = "a number like 'total' (a tensor count takes a tensor total of its framework)"
        else:
            expected = "a number (or a 0-d floating torch or TensorFlow tensor)"
        raise bad_type("global_mean", argument, f"{expected}, as loss.parts() returns", describe(x))


def _readable(count):
    """The count as a number where reading it costs no device sync: a number, or an eager CPU
    tensor (torch's, TensorFlow's); else None."""
    if isinstance(count, (numbers.Real, np.ndarray)):
        return float(count)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(count, torch.Tensor):
        # (item(): float() of a count that requires grad warns)
        return count.item() if count.is_cpu and not torch.compiler.is_compiling() else None
    tf = sys.modules.get("tensorflow")
    if tf is not None and tf.executing_eagerly() and count.device.endswith("CPU:0"):
        return float(count)
    return None


def _torch_group() -> bool:
    dist = sys.modules.get("torch.distributed")
    return dist is not None and dist.is_available() and dist.is_initialized()


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
    """(the sum of ``count``, a 0-d TensorFlow tensor, over tf.distribute's replicas in sync,
    their number): (count, 1) outside a strategy. The count carries no gradient."""
    import tensorflow as tf
    if not (isinstance(count, tf.Tensor) and count.shape.rank in (0, None) and count.dtype.is_floating):
        raise bad_type("tf_count_over_replicas", "count", "a 0-d floating TensorFlow tensor", describe(count))
    count = tf.stop_gradient(count)
    context = _tf_replica_context()
    if context is not None:
        return context.all_reduce(tf.distribute.ReduceOp.SUM, count), context.num_replicas_in_sync
    return count, 1


def tf_replicas_in_sync() -> bool:
    """A TensorFlow replica context of more than one replica (tf.distribute) is current."""
    return _tf_replica_context() is not None


def _tf_replica_context():
    """tf.distribute's replica context where more than one replica runs in sync, else None
    (and None where TensorFlow is not imported: no strategy can run)."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return None
    context = tf.distribute.get_replica_context()
    return context if context is not None and context.num_replicas_in_sync > 1 else None


def _ops(backend):
    from . import backends
    return backends.load(backend).OPS
