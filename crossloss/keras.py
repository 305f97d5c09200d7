"""crossloss losses as Keras 3 losses, for ``model.compile(loss=...)``.

    model.compile(optimizer="adam", loss=crossloss.keras.get("dice", axis=-1))
    model.compile(optimizer="adam", loss=crossloss.keras.Huber(delta=2.0))

``call()`` returns crossloss's unreduced values; ``__call__`` weighs them by Keras's
``sample_weight`` (``class_weight`` in ``fit`` arrives as one) and mask and hands them to
Keras's reduction. Keras's built-ins average their last axis before they weigh it, so a weight
or mask of the values' first axes (``(B,)`` or ``(B, 1)`` for a ``(B, C)`` MSE) is spread over
the values' other axes: the mean is then the built-in's. For the mean reductions the values
are scaled by (number of values / the loss's count), so Keras's mean equals crossloss's even
where crossloss divides by something else (labels left out by ``ignore_index``,
class-weighted means), a mask taking its entries out of that count. The loss is computed in
float32 under mixed precision policies. Works with the TensorFlow and torch Keras backends.

``get_config`` carries every parameter (arrays and tensors as lists of floats). Importing this
module registers the classes with Keras ("crossloss>Huber", ...): ``keras.models.load_model``
finds them in any process that has imported ``crossloss.keras``, and in no other, since Keras
imports no module outside its own packages when it loads a model (keras/src/saving/
serialization_lib.py, ``_retrieve_class_or_fn``).
"""
from __future__ import annotations

import functools

try:
    import keras
except ImportError as error:  # name the extra to install, as the backends do
    from crossloss.errors import BackendUnavailableError
    raise BackendUnavailableError(f"crossloss.keras expected the package 'keras' to be installed; got ImportError "
                                  f"({error}). Install it with: pip install 'crossloss[keras]'") from error
import numpy as np
# Keras's own steps of Loss.__call__, which __call__ below repeats (not exported by Keras 3)
from keras.src.backend import get_keras_mask
from keras.src.losses.loss import reduce_weighted_values

import crossloss
from crossloss import contract, core, dispatch, distributed, registry
from crossloss.errors import LossTypeError, UnknownLossError, bad_type, bad_value
from crossloss.spec import _as_numpy

__all__ = ["Loss", "get"]

_MEAN_REDUCTIONS = ("sum_over_batch_size", "mean")
# What keras.losses.Loss accepts (keras/src/losses/loss.py, standardize_reduction)
_REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight", "sum", "none", None)


@keras.saving.register_keras_serializable(package="crossloss")
class Loss(keras.losses.Loss):
    """Any crossloss loss, by name: ``Loss("dice", axis=-1)``."""

    def __init__(self, loss="mean_squared_error", reduction="sum_over_batch_size", name=None, dtype=None, **params):
        spec = registry.lookup(loss, caller="crossloss.keras.get")
        if "compat" in params:  # a profile's reductions are its framework's own, not crossloss's
            raise bad_value(spec.name, "compat", "no compat profile in crossloss.keras (Keras's own numbers are "
                            "keras.losses'; crossloss.get(..., compat=...) runs a profile directly)", repr(params["compat"]))
        if "backend" in params:  # a config could not carry it: a reloaded model would run another
            raise bad_value(spec.name, "backend", "no backend in crossloss.keras (Keras's backend decides the "
                            "framework)", repr(params["backend"]))
        if reduction not in _REDUCTIONS:
            raise bad_value(spec.name, "reduction", "one of Keras's reductions, " + ", ".join(map(repr, _REDUCTIONS)),
                            repr(reduction))
        try:
            super().__init__(name=name or spec.name, reduction=reduction, dtype=dtype)
        except ValueError as error:  # (the reduction is checked above: Keras refused the dtype)
            raise bad_value(spec.name, "dtype", "a floating dtype or a Keras dtype policy (or None: Keras's floatx)",
                            f"{dtype!r} ({error})") from None
        if not keras.backend.is_float_dtype(self.dtype):  # Keras would cast the inputs to it: 0.9 -> 0
            raise bad_value(spec.name, "dtype", "a floating dtype (or None: Keras's floatx)", repr(dtype))
        self.loss_name = spec.name
        core.bind(spec, params, own=("reduction", "name", "dtype"))  # an unknown name listed among Keras's keywords
        self._loss = crossloss.get(spec.name, reduction="none", **params)
        self.loss_params = {k: _plain(v) for k, v in self._loss.params.items()}  # defaults too: a saved model keeps them

    def __call__(self, y_true, y_pred, sample_weight=None):
        """Keras's ``Loss.__call__`` (keras/src/losses/loss.py), with its mean made crossloss's.

        ``sample_weight`` and the mask are spread over the values first (Keras itself fits
        their ranks only by a trailing axis of 1). A mask also takes its entries out of
        crossloss's count (labels left out by ``ignore_index``, class weights), and
        "mean_with_sample_weight" divides by the weighted count: the values reach Keras's
        reduction already weighed and scaled, so that its sum over their number is the mean.
        """
        mask = get_keras_mask(y_pred)
        for argument, value in (("y_true", y_true), ("y_pred", y_pred)):
            _check_real(self.loss_name, argument, value)
        with keras.name_scope(self.name):
            convert = functools.partial(keras.ops.convert_to_tensor, dtype=self.dtype)
            terms = self._loss.terms(keras.tree.map_structure(convert, y_true), keras.tree.map_structure(convert, y_pred))
            values, counted = terms.values, terms.counted
            ops = dispatch.backend_for(self.loss_name, values, values).OPS
            _check_shard(self.loss_name, ops, terms)
            weight = None
            if sample_weight is not None:
                weight = _spread(self.loss_name, "sample_weight", sample_weight, values, terms.weighted_by_sample)
            if mask is not None:
                if not self._loss.spec.values_per_entry:  # a (B, T) mask would pass as (B, C) weights where T == C
                    raise bad_value(self.loss_name, "mask", "no Keras mask: this loss's values are sums over "
                                    "the entries a mask would leave out (integer labels with ignore_index leave "
                                    "pixels out)", f"a mask of shape {tuple(mask.shape)}")
                mask = _spread(self.loss_name, "mask", mask, values)  # in the values' dtype
                weight = mask if weight is None else weight * mask
            if weight is not None:
                values = values * weight
            if self.reduction in _MEAN_REDUCTIONS:
                values = _as_mean(ops, values, terms.count, counted, mask)
            elif self.reduction == "mean_with_sample_weight":
                values = _as_mean(ops, values, terms.count, counted, weight)
            if self.reduction not in (None, "none") and _known_empty(ops, values):  # Keras returns them unreduced
                return keras.ops.cast(keras.ops.sum(values), self.dtype)  # crossloss's mean over nothing: 0
            return reduce_weighted_values(values, reduction=self.reduction, dtype=self.dtype)

    def call(self, y_true, y_pred):
        """The unreduced values, scaled so that Keras's mean of them is crossloss's mean."""
        terms = self._loss.terms(y_true, y_pred)
        ops = dispatch.backend_for(self.loss_name, terms.values, terms.values).OPS
        _check_shard(self.loss_name, ops, terms)
        if self.reduction not in _MEAN_REDUCTIONS:
            return terms.values
        return _as_mean(ops, terms.values, terms.count, terms.counted, None)

    def get_config(self):
        return {**super().get_config(), "loss": self.loss_name, **self.loss_params}

    @classmethod
    def from_config(cls, config):
        try:
            return super().from_config(config)
        except UnknownLossError as error:  # load_model in a process where the loss's own module is not imported
            raise UnknownLossError(f"{error}; a loss that your own module registers needs that module imported "
                                   "before keras.models.load_model") from None


def _check_real(loss, argument, value):
    """Keras casts the inputs to the loss's float dtype, which drops a complex number's
    imaginary part (keras.losses' own losses then give a number): refused first, as
    crossloss.get refuses it. One input of a structure (a dict of outputs) is checked by Keras."""
    dtype = getattr(value, "dtype", None)
    if dtype is None and isinstance(value, (list, tuple, complex)):
        dtype = np.asarray(value).dtype
    try:
        name = keras.backend.standardize_dtype(dtype) if dtype is not None else ""
    except ValueError:  # no dtype Keras knows (an object array): its conversion raises
        return
    if name.startswith("complex") or name == "string":
        raise bad_type(loss, argument, contract.REAL, f"dtype {name}")


def _check_shard(loss, ops, terms):
    """Under tf.distribute each replica sees its shard: values that span the batch (Dice with
    batch=True) would be each shard's own, and training would differ from one device's."""
    if not terms.weighted_by_sample and ops.name == "tensorflow" and distributed.tf_replicas_in_sync():
        raise bad_value(loss, "batch", "values per sample under tf.distribute (one Dice over the whole batch "
                        "would be each replica's Dice of its own shard: batch=False, or one replica)",
                        "a loss whose values span the batch, on a replica of several in sync")


def _known_empty(ops, values) -> bool:
    size = ops.size(values)  # a tensor in a graph with an unknown batch size (Keras reduces that itself)
    return isinstance(size, int) and size == 0


def _as_mean(ops, values, count, counted, weight):
    """``values`` times (their number / the mean's count): Keras divides their sum by their
    number. The count is crossloss's (``count``, or the number of values where it is None),
    each entry's share of it (``counted``) weighed by ``weight`` where one is given.

    Under tf.distribute Keras divides each replica's loss by the number of replicas and sums
    the gradients: the global mean needs the replicas' mean count, not this shard's, where
    shards may count differently (ignored labels, class or sample weights, and shards of
    different sizes: a last batch split unevenly). Keras reports the replicas' values weighed
    by their shards' sizes: with shards of different sizes, that needs other values than the
    slopes do (``with_slope_of``)."""
    if weight is not None:
        count = ops.sum(weight if counted is None else counted * weight)
    elif count is None:
        if not (ops.name == "tensorflow" and distributed.tf_replicas_in_sync()):
            return values  # Keras's own mean is this count's
        count = ops.size(values)
    dtype = ops.dtype_name(values)
    count = ops.cast(count, dtype)
    size = ops.size(values)  # an int, or a tensor in a graph with an unknown batch size
    size = float(size) if isinstance(size, int) else ops.cast(size, dtype)
    if ops.name == "tensorflow":
        count, replicas = distributed.tf_count_over_replicas(count)
        if replicas > 1:
            # Keras reports the replicas' losses weighed by their shards' sizes: as values, the
            # global size over the global count make that the global mean; a shard's own size
            # times the replicas' number, the slope, where shards differ in size (a last batch)
            everywhere, _ = distributed.tf_count_over_replicas(ops.cast(size, dtype))
            return ops.with_slope_of(values * ops.ratio_or_zero(everywhere, count),
                                     values * ops.ratio_or_zero(size * replicas, count))
    return values * ops.ratio_or_zero(size, count)


def _spread(loss, argument, weight, values, per_sample=True):
    """``weight`` (or a mask) as crossloss takes a sample_weight (a scalar or a prefix of the
    values' shape; (B, 1) weighs each sample of a (B, C) loss), broadcast to the values' shape:
    "mean_with_sample_weight" then divides by the weights of every value, as a built-in's mean
    of (B,) row means does."""
    ops = dispatch.backend_for(loss, values, values).OPS
    weight = contract.weight_for(loss, ops, weight, values, values, argument, per_sample)
    return keras.ops.broadcast_to(weight, keras.ops.shape(values))


def _plain(value):
    """A parameter for the JSON config: arrays and tensors (NumPy, torch, TensorFlow) as floats."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return _as_numpy(value).astype(np.float64).tolist()
    return value


def get(loss: str, /, **params) -> Loss:
    """The loss ``loss`` (a name or alias) as a ``keras.losses.Loss`` (Keras argument order,
    class axis -1); ``name=`` and ``dtype=`` are Keras's."""
    canonical = registry.lookup(loss, caller="crossloss.keras.get").name
    return _CLASSES[canonical](**params) if canonical in _CLASSES else Loss(canonical, **params)


def _class_for(loss_name: str, class_name: str):
    def __init__(self, *positional, reduction="sum_over_batch_size", name=None, dtype=None, **params):
        if positional:  # Keras's built-ins take their own first parameter first (Huber(2.0): delta)
            first = next(iter(crossloss.spec(loss_name).defaults()), "reduction")
            raise LossTypeError(f"{loss_name}: argument '{first}' expected a keyword ({class_name}({first}=...): "
                                f"crossloss.keras's classes take every parameter by keyword); got the positional "
                                f"value{'s' * (len(positional) > 1)} {', '.join(map(repr, positional))}")
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
