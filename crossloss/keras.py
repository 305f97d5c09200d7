"""crossloss losses as Keras 3 losses, for ``model.compile(loss=...)``.

    model.compile(optimizer="adam", loss=crossloss.keras.get("dice", axis=-1))
    model.compile(optimizer="adam", loss=crossloss.keras.Huber(delta=2.0))

``call()`` returns crossloss's unreduced values, so Keras applies its own ``sample_weight``,
``class_weight``, masks and reduction as for its built-ins. For the default reduction
("sum_over_batch_size") the values are scaled by (number of values / the loss's count), so
Keras's mean equals crossloss's even where crossloss divides by something else (labels left
out by ``ignore_index``, class-weighted means). The loss is computed in float32 under mixed
precision policies. Works with the TensorFlow and torch Keras backends. ``get_config`` carries
every parameter; saved models load without ``custom_objects`` (Keras imports this module).
"""
from __future__ import annotations

import keras
import numpy as np

import crossloss
from crossloss import dispatch

__all__ = ["Loss", "get"]

_MEAN_REDUCTIONS = ("sum_over_batch_size", "mean")


@keras.saving.register_keras_serializable(package="crossloss")
class Loss(keras.losses.Loss):
    """Any crossloss loss, by name: ``Loss("dice", axis=-1)``."""

    def __init__(self, loss="mean_squared_error", reduction="sum_over_batch_size", name=None, dtype=None, **params):
        spec = crossloss.spec(loss)
        super().__init__(name=name or spec.name, reduction=reduction, dtype=dtype)
        self.loss_name = spec.name
        self.loss_params = {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in params.items()}
        self._loss = crossloss.get(spec.name, reduction="none", **params)

    def call(self, y_true, y_pred):
        terms = self._loss.terms(y_true, y_pred)
        if terms.count is None or self.reduction not in _MEAN_REDUCTIONS:
            return terms.values
        # Keras divides sum(values) by their number; crossloss's mean divides by its own count.
        ops = dispatch.backend_for(self.loss_name, terms.values, terms.values).OPS
        dtype = ops.dtype_name(terms.values)
        size = ops.size(terms.values)  # an int, or a tensor in a graph with an unknown batch size
        size = float(size) if isinstance(size, int) else ops.cast(size, dtype)
        count = ops.cast(terms.count, dtype)
        return terms.values * (size / ops.where(count == 0, 1.0, count))

    def get_config(self):
        return {**super().get_config(), "loss": self.loss_name, **self.loss_params}


def get(name: str, **params) -> Loss:
    """The loss ``name`` as a ``keras.losses.Loss`` (Keras argument order, class axis -1)."""
    canonical = crossloss.spec(name).name
    return _CLASSES[canonical](**params) if canonical in _CLASSES else Loss(canonical, **params)


def _class_for(loss_name: str, class_name: str):
    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None, **params):
        Loss.__init__(self, loss_name, reduction=reduction, name=name, dtype=dtype, **params)

    def get_config(self):
        config = Loss.get_config(self)
        config.pop("loss")
        return config

    cls = type(class_name, (Loss,), {"__init__": __init__, "get_config": get_config, "__module__": __name__,
                                      "__doc__": f"crossloss's {loss_name} as a Keras loss.\n\n{crossloss.spec(loss_name)}"})
    return keras.saving.register_keras_serializable(package="crossloss")(cls)


_CLASSES = {loss: _class_for(loss, cls) for loss, cls in {
    "mean_squared_error": "MeanSquaredError", "mean_absolute_error": "MeanAbsoluteError", "huber": "Huber",
    "smooth_l1": "SmoothL1", "binary_crossentropy": "BinaryCrossentropy",
    "categorical_crossentropy": "CategoricalCrossentropy",
    "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy", "dice": "Dice", "kl_divergence": "KLDivergence",
}.items()}
globals().update({cls.__name__: cls for cls in _CLASSES.values()})
__all__ += [cls.__name__ for cls in _CLASSES.values()]
