"""Moving float64 NumPy case data to a backend in a given dtype, and results back.

The dtypes each backend runs: NumPy has no bfloat16.
"""
from __future__ import annotations

import numpy as np

DTYPES = {
    "numpy": ("float64", "float32", "float16"),
    "torch": ("float64", "float32", "float16", "bfloat16"),
    "tensorflow": ("float64", "float32", "float16", "bfloat16"),
}


def framework(label: str) -> str:
    """The backend of a run label: "torch:cuda" runs the torch backend on CUDA."""
    return label.split(":")[0]


def run_labels(backend: str) -> list[str]:
    """The devices a backend is checked on: CPU, and CUDA when torch sees a GPU."""
    if backend == "torch":
        import torch
        return ["torch", "torch:cuda"] if torch.cuda.is_available() else ["torch"]
    return [backend]


def to_backend(backend: str, array, dtype: str):
    """``array`` on ``backend`` (a run label): floats in ``dtype``, integers (labels) kept."""
    if array is None:
        return None
    if backend == "torch:cuda":
        return to_backend("torch", array, dtype).to("cuda")
    array = np.asarray(array)
    integer = array.dtype.kind in "iub"
    if backend == "numpy":
        with np.errstate(over="ignore"):  # 1e8 in float16 is inf, as on every backend
            return array if integer else array.astype(dtype)
    if backend == "torch":
        import torch
        tensor = torch.as_tensor(array)
        return tensor if integer else tensor.to(getattr(torch, dtype))
    if backend == "tensorflow":
        import tensorflow as tf
        tensor = tf.constant(array)
        return tensor if integer else tf.cast(tensor, dtype)
    raise ValueError(f"unknown backend {backend!r}")


def to_numpy(value) -> np.ndarray:
    """Any backend's tensor as a float64 NumPy array (integers stay integers)."""
    if hasattr(value, "detach"):  # torch
        value = value.detach().cpu()
        return value.numpy() if not value.is_floating_point() else value.double().numpy()
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):  # tensorflow
        import tensorflow as tf
        return (tf.cast(value, "float64") if value.dtype.is_floating else value).numpy()
    array = np.asarray(value)
    return array.astype(np.float64) if array.dtype.kind == "f" else array


def quantized(backend: str, array, dtype: str):
    """The float64 values ``array`` holds once stored in ``dtype`` on ``backend``."""
    return None if array is None else to_numpy(to_backend(backend, array, dtype))


def value_and_gradient(backend: str, loss, y_true, y_pred, sample_weight=None, wrt: str = "y_pred"):
    """(loss value, d sum(loss) / d wrt) as float64 NumPy arrays, ``wrt`` one of "y_pred",
    "y_true", "sample_weight" (the other inputs constants); inputs already on the backend."""
    inputs = {"y_true": y_true, "y_pred": y_pred, "sample_weight": sample_weight}
    if framework(backend) == "torch":
        import torch
        inputs[wrt] = inputs[wrt].detach().clone().requires_grad_(True)
        value = loss(**inputs)
        total = value.sum()  # (no path to any input that needs a gradient: a zero one, as TensorFlow's None)
        grad = torch.autograd.grad(total, inputs[wrt], allow_unused=True)[0] if total.requires_grad else None
        return to_numpy(value), to_numpy(grad if grad is not None else torch.zeros_like(inputs[wrt]))
    if backend == "tensorflow":
        import tensorflow as tf
        with tf.GradientTape() as tape:
            tape.watch(inputs[wrt])
            value = loss(**inputs)
            total = tf.reduce_sum(value)
        grad = tape.gradient(total, inputs[wrt])
        return to_numpy(value), to_numpy(grad if grad is not None else tf.zeros_like(inputs[wrt]))
    raise ValueError(f"backend {backend!r} has no automatic differentiation")


GRADIENT_BACKENDS = ("torch", "tensorflow")
TRACES = {"torch": ("torch.compile(fullgraph=True)", "torch meta tensors"),
          "torch:cuda": ("torch.compile(fullgraph=True)",),
          "tensorflow": ("tf.function(jit_compile=True)", "tf.function, unknown batch size")}


def traced(backend: str, trace: str, loss, y_true, y_pred):
    """The loss run under ``trace``; for meta tensors, the (shape, dtype, device type) it gives instead of values."""
    if trace == "torch.compile(fullgraph=True)":
        import torch
        torch._dynamo.reset()
        # aot_eager traces autograd too; fullgraph=True fails on any graph break (a host read)
        return torch.compile(loss, fullgraph=True, backend="aot_eager")(y_true, y_pred)
    if trace == "torch meta tensors":
        out = loss(y_true.to("meta"), y_pred.to("meta"))
        return tuple(out.shape), str(out.dtype), out.device.type
    if trace == "tf.function(jit_compile=True)":
        import tensorflow as tf
        return tf.function(loss, jit_compile=True)(y_true, y_pred)
    if trace == "tf.function, unknown batch size":  # as Keras traces a model's loss
        import tensorflow as tf
        signature = [tf.TensorSpec([None] + x.shape.as_list()[1:], x.dtype) for x in (y_true, y_pred)]
        return tf.function(tf.autograph.experimental.do_not_convert(loss), input_signature=signature)(y_true, y_pred)
    raise ValueError(f"unknown trace {trace!r}")
