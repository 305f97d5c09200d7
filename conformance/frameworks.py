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


def to_backend(backend: str, array, dtype: str):
    """``array`` on ``backend``: floats in ``dtype``, integers (labels) kept as integers."""
    if array is None:
        return None
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
