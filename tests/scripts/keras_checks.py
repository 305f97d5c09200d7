"""Run by tests/test_keras.py in a fresh process per Keras backend; prints one JSON object."""
import json
import os
import sys

import numpy as np

import keras
import crossloss

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
out = {"backend": keras.backend.backend()}


def section(key):
    """Runs the decorated check now and records its result, or its error, under ``key``: a
    check that raises leaves the others' results to the tests (tests/test_keras.py: result)."""
    def run(check):
        try:
            out[key] = check()
        except Exception as error:  # noqa: BLE001 (the test reading ``key`` reports it)
            out[key] = {"error": f"{type(error).__name__}: {error}"[:2000]}
    return run


def number(loss, *args, **kwargs):
    return float(keras.ops.convert_to_numpy(loss(*args, **kwargs)))


def huber(e, delta):
    return np.where(np.abs(e) <= delta, 0.5 * e ** 2, delta * (np.abs(e) - 0.5 * delta))


def dice(targets, probs):
    """Per sample and class, float64 NumPy: 1 - (2 sum(p t) + 1e-5) / (sum(p) + sum(t) + 1e-5)."""
    axes = tuple(range(1, probs.ndim - 1))
    return 1 - (2 * np.sum(probs * targets, axes) + 1e-5) / (np.sum(probs, axes) + np.sum(targets, axes) + 1e-5)


def segmentation_model():
    inputs = keras.Input((8, 8, 2))
    return keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same", activation="softmax")(inputs))


x = rng.normal(size=(16, 8, 8, 2)).astype("float32")
labels = rng.integers(0, 3, (16, 8, 8))
labels[:, 0, :] = 255

# compile / fit / evaluate / predict, then save and load without custom_objects
model = segmentation_model()
model.compile(optimizer=keras.optimizers.SGD(0.1), loss=crossloss.keras.get("dice", ignore_index=255))
out["fit"] = model.fit(x, labels, batch_size=8, epochs=2, verbose=0).history["loss"]
out["evaluate"] = model.evaluate(x, labels, verbose=0)
out["predict_shape"] = list(model.predict(x[:3], verbose=0).shape)
path = os.path.join(sys.argv[1], f"dice_{out['backend']}.keras")
model.save(path)
out["evaluate_loaded"] = keras.models.load_model(path).evaluate(x, labels, verbose=0)

# a non-default parameter survives saving; tests/test_keras.py loads the file in fresh processes
regression = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
regression.compile(optimizer="sgd", loss=crossloss.keras.Huber(delta=2.0))
xr, yr = rng.normal(size=(12, 4)).astype("float32"), rng.normal(size=(12, 1)).astype("float32") * 5
path = os.path.join(sys.argv[1], f"huber_{out['backend']}.keras")
regression.save(path)
np.savez(os.path.join(sys.argv[1], "huber_data.npz"), x=xr, y=yr)
out["huber_path"] = path
loaded = keras.models.load_model(path)
out["huber_delta_loaded"] = loaded.loss.get_config()["delta"]
out["huber_evaluate"] = [regression.evaluate(xr, yr, verbose=0), loaded.evaluate(xr, yr, verbose=0)]

# Keras's sample_weight and crossloss's mean; ignored labels and class weights counted as crossloss counts them
probs = keras.ops.convert_to_numpy(model.predict(x, verbose=0)).astype("float64")
weights = rng.uniform(0.5, 2.0, (16, 8, 8))  # per pixel: Keras broadcasts only one rank apart
loss = crossloss.keras.get("scce", ignore_index=255, class_weight=[1.0, 2.0, 0.5])
out["scce_keras"] = float(keras.ops.convert_to_numpy(loss(labels, probs, sample_weight=weights)))
out["scce_crossloss"] = float(crossloss.get("scce", ignore_index=255, class_weight=[1.0, 2.0, 0.5])(
    labels, probs, sample_weight=weights))
# every label's class weight 0, label smoothing on: a mean over nothing, 0 (not the smoothing term's sum)
zero_weight = crossloss.keras.get("scce", class_weight=[0.0, 1.0, 1.0], label_smoothing=0.2)
out["scce_zero_count"] = float(keras.ops.convert_to_numpy(zero_weight(np.zeros(4, "int64"), probs[:4, 0, 0])))

# class_weight in fit applies as Keras applies it to its built-ins
clf = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
clf.compile(optimizer="sgd", loss=crossloss.keras.SparseCategoricalCrossentropy())
xc, yc = rng.normal(size=(12, 4)).astype("float32"), rng.integers(0, 3, 12)
clf_builtin = keras.models.clone_model(clf)
clf_builtin.set_weights(clf.get_weights())
clf_builtin.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy())
cw = {0: 1.0, 1: 3.0, 2: 0.5}
out["class_weight_fit"] = [clf.fit(xc, yc, class_weight=cw, epochs=2, verbose=0, shuffle=False).history["loss"],
                           clf_builtin.fit(xc, yc, class_weight=cw, epochs=2, verbose=0, shuffle=False).history["loss"]]

# Keras masks (mask_zero=True) reach crossloss's values as they reach Keras's built-ins
tokens = rng.integers(1, 20, (6, 7))
tokens[:, 4:] = 0  # padding, masked out
sequence_labels = rng.integers(0, 3, (6, 7))
seq = keras.Sequential([keras.Input((7,)), keras.layers.Embedding(20, 5, mask_zero=True),
                        keras.layers.Dense(3, activation="softmax")])
seq.compile(loss=crossloss.keras.SparseCategoricalCrossentropy())
ours = seq.evaluate(tokens, sequence_labels, verbose=0)
seq.compile(loss=keras.losses.SparseCategoricalCrossentropy())
builtin = seq.evaluate(tokens, sequence_labels, verbose=0)
unmasked = float(crossloss.get("scce")(sequence_labels, keras.ops.convert_to_numpy(seq(tokens)).astype("float64")))
out["masked"] = [ours, builtin, unmasked]


@section("masked_elementwise")
def _():  # a (B, T) mask on a (B, T, C) loss, as on the built-in's (B, T) means
    regression_seq = keras.Sequential([keras.Input((7,)), keras.layers.Embedding(20, 5, mask_zero=True),
                                       keras.layers.Dense(3)])
    targets = rng.uniform(0, 1, (6, 7, 3)).astype("float32")
    regression_seq.compile(loss=crossloss.keras.MeanSquaredError())
    masked = regression_seq.evaluate(tokens, targets, verbose=0)
    regression_seq.compile(loss=keras.losses.MeanSquaredError())
    masked_builtin = regression_seq.evaluate(tokens, targets, verbose=0)
    predicted = keras.ops.convert_to_numpy(regression_seq(tokens)).astype("float64")
    return [masked, masked_builtin, float(np.mean((predicted - targets) ** 2))]


@section("counted_masked")
def _():
    """A mask takes ignored labels and class weights out of the count too, and so does
    "mean_with_sample_weight": the built-in's ignore_class where it has one, else NumPy."""
    logit_seq = keras.Sequential([keras.Input((7,)), keras.layers.Embedding(20, 5, mask_zero=True),
                                  keras.layers.Dense(3)])
    weights = rng.uniform(0.5, 2.0, (6, 7)).astype("float32")

    def evaluate(loss, **kwargs):
        logit_seq.compile(loss=loss)
        return logit_seq.evaluate(tokens, sequence_labels, verbose=0, **kwargs)
    ours, builtin = crossloss.keras.SparseCategoricalCrossentropy, keras.losses.SparseCategoricalCrossentropy
    results = {}
    for reduction in ("sum_over_batch_size", "mean_with_sample_weight"):
        for weighted in (False, True):
            kwargs = {"sample_weight": weights} if weighted else {}
            results[f"ignore_index, {reduction}, weighted={weighted}"] = [
                evaluate(ours(from_logits=True, ignore_index=2, reduction=reduction), **kwargs),
                evaluate(builtin(from_logits=True, ignore_class=2, reduction=reduction), **kwargs)]
    logits = keras.ops.convert_to_numpy(logit_seq(tokens)).astype("float64")
    shifted = logits - logits.max(-1, keepdims=True)
    nll = -np.take_along_axis(shifted - np.log(np.exp(shifted).sum(-1, keepdims=True)),
                              sequence_labels[..., None], -1)[..., 0]
    class_weight = np.array([1.0, 4.0, 0.5])[sequence_labels] * (tokens != 0)  # masked out: counts 0
    results["class_weight, sum_over_batch_size"] = [
        evaluate(ours(from_logits=True, class_weight=[1.0, 4.0, 0.5])),
        float(np.sum(class_weight * nll) / np.sum(class_weight))]
    results["class_weight, mean_with_sample_weight, weighted"] = [
        evaluate(ours(from_logits=True, class_weight=[1.0, 4.0, 0.5], reduction="mean_with_sample_weight"),
                 sample_weight=weights),
        float(np.sum(weights * class_weight * nll) / np.sum(weights * class_weight))]
    regression_seq = keras.Sequential([keras.Input((7,)), keras.layers.Embedding(20, 5, mask_zero=True),
                                       keras.layers.Dense(3)])
    targets = rng.uniform(0, 1, (6, 7, 3)).astype("float32")
    for loss in (crossloss.keras.MeanSquaredError(), keras.losses.MeanSquaredError()):  # weights and a mask
        regression_seq.compile(loss=loss)
        results.setdefault("mse, mask and sample_weight", []).append(
            regression_seq.evaluate(tokens, targets, sample_weight=weights, verbose=0))
    return results


# Keras's built-ins average their last axis, then weigh: a (B,) or (B, 1) sample_weight must give
# their number on a (B, C) loss; full-shape weights against NumPy. SmoothL1(beta=1) is Huber(delta=1).
ELEMENTWISE = {  # name: crossloss.keras class, its parameters, the Keras built-in, its parameters, NumPy per element
    "mse": (crossloss.keras.MeanSquaredError, {}, keras.losses.MeanSquaredError, {}, lambda t, p: (p - t) ** 2),
    "mae": (crossloss.keras.MeanAbsoluteError, {}, keras.losses.MeanAbsoluteError, {}, lambda t, p: np.abs(p - t)),
    "huber": (crossloss.keras.Huber, {"delta": 0.7}, keras.losses.Huber, {"delta": 0.7},
              lambda t, p: huber(p - t, 0.7)),
    "smooth_l1": (crossloss.keras.SmoothL1, {"beta": 1.0}, keras.losses.Huber, {"delta": 1.0},
                  lambda t, p: huber(p - t, 1.0)),
    "bce": (crossloss.keras.BinaryCrossentropy, {"from_logits": True}, keras.losses.BinaryCrossentropy,
            {"from_logits": True}, lambda t, x: np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))),
}
REDUCTIONS = ("sum_over_batch_size", "mean_with_sample_weight")


@section("weighted")
def _():
    y, p = rng.uniform(0, 1, (6, 3)).astype("float32"), rng.normal(0, 2, (6, 3)).astype("float32")
    w, full = rng.uniform(0.2, 2.0, 6).astype("float32"), rng.uniform(0.2, 2.0, (6, 3)).astype("float32")
    results = {}
    for name, (ours, params, builtin, builtin_params, per_element) in ELEMENTWISE.items():
        for reduction in REDUCTIONS:
            loss = ours(reduction=reduction, **params)
            for shape, weight in (("(B,)", w), ("(B, 1)", w[:, None])):
                results[f"{name} {reduction} {shape}"] = [
                    number(loss, y, p, sample_weight=weight),
                    number(builtin(reduction=reduction, **builtin_params), y, p, sample_weight=weight)]
            weighted = full * per_element(y.astype("float64"), p.astype("float64"))
            divisor = weighted.size if reduction == "sum_over_batch_size" else full.sum()
            results[f"{name} {reduction} (B, C)"] = [number(loss, y, p, sample_weight=full), weighted.sum() / divisor]
    return results


@section("weighted_fit")
def _():
    xf, yf = rng.normal(size=(12, 4)).astype("float32"), rng.uniform(0, 1, (12, 3)).astype("float32")
    w = rng.uniform(0.2, 2.0, 12).astype("float32")
    base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    results = {}
    for name in ("mse", "huber", "bce"):
        ours, params, builtin, builtin_params, _ = ELEMENTWISE[name]
        for shape, weight in (("(B,)", w), ("(B, 1)", w[:, None])):
            histories = []
            for loss in (ours(**params), builtin(**builtin_params)):
                model = keras.models.clone_model(base)
                model.set_weights(base.get_weights())
                model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
                histories.append(model.fit(xf, yf, sample_weight=weight, batch_size=4, epochs=2, shuffle=False,
                                           verbose=0).history["loss"])
            results[f"{name} {shape}"] = histories
    return results


# Dice: a sample's weight multiplies its Dice values (one per class), and the mean divides by their number
@section("dice_weighted")
def _():
    probs = keras.ops.convert_to_numpy(keras.ops.softmax(rng.normal(size=(4, 5, 5, 3)))).astype("float32")
    targets = np.eye(3, dtype="float32")[rng.integers(0, 3, (4, 5, 5))]
    d = dice(targets.astype("float64"), probs.astype("float64"))  # (B, C)
    w, full = rng.uniform(0.2, 2.0, 4).astype("float32"), rng.uniform(0.2, 2.0, (4, 3)).astype("float32")
    results = {}
    for reduction in REDUCTIONS:
        for shape, weight in (("(B,)", w), ("(B, 1)", w[:, None]), ("(B, C)", full)):
            spread = np.broadcast_to(np.reshape(weight, (4, -1)), d.shape)
            expected = np.sum(spread * d) / (d.size if reduction == "sum_over_batch_size" else spread.sum())
            ours = number(crossloss.keras.Dice(reduction=reduction), targets, probs, sample_weight=weight)
            results[f"{reduction} {shape}"] = [ours, expected]
    try:  # per-pixel weights: Dice has one value per sample and class
        crossloss.keras.Dice()(targets, probs, sample_weight=np.ones((4, 5, 5), "float32"))
        results["per pixel"] = "no error"
    except ValueError as error:
        results["per pixel"] = f"{type(error).__name__}: {error}"
    return results


@section("dice_fit")
def _():
    clean = rng.integers(0, 3, (16, 8, 8))
    w = rng.uniform(0.2, 2.0, 16).astype("float32")
    seg = segmentation_model()
    seg.compile(optimizer=keras.optimizers.SGD(0.1), loss=crossloss.keras.Dice())
    history = seg.fit(x, clean, sample_weight=w, batch_size=8, epochs=2, verbose=0).history["loss"]
    evaluated = seg.evaluate(x, clean, sample_weight=w, batch_size=16, verbose=0)
    probs = keras.ops.convert_to_numpy(seg.predict(x, verbose=0)).astype("float64")
    return {"fit": history, "evaluate": [evaluated, float(np.mean(w[:, None] * dice(np.eye(3)[clean], probs)))]}


# get_config carries per-class weights given as any array as a list of floats, through JSON
@section("config_round_trip")
def _():
    import tensorflow as tf
    import torch
    labels4, probs4 = rng.integers(0, 3, 4), rng.dirichlet(np.ones(3), 4).astype("float32")
    targets4 = rng.uniform(0, 1, (4, 3)).astype("float32")
    results = {}
    for kind, make in (("list", list), ("numpy", np.array), ("torch", torch.tensor), ("tensorflow", tf.constant)):
        for name, param, y_true in (("scce", "class_weight", labels4), ("bce", "pos_weight", targets4)):
            weights = [1.0, 2.0, 0.5]
            loss = crossloss.keras.get(name, **{param: make(weights)})
            saved = json.loads(json.dumps(keras.losses.serialize(loss)))  # what model.save writes
            loaded = keras.losses.deserialize(saved)
            results[f"{name} {param} {kind}"] = {"weights": weights, "saved": saved["config"][param],
                                                 "values": [number(loss, y_true, probs4), number(loaded, y_true, probs4)]}
    return results


@section("config_defaults")
def _():
    """Every parameter, the defaults too: a saved model must not depend on the defaults of the
    crossloss that loads it."""
    return {name: crossloss.keras.get(name).get_config() for name in ("huber", "dice")}


def refusal(make):
    """The ValueError or TypeError that ``make()`` raises, as "Type: message"."""
    try:
        make()
    except (ValueError, TypeError) as error:
        return f"{type(error).__name__}: {error}"
    return "no error"


@section("call_means")
def _():
    """Keras's own mean of call()'s values, for a subclass or a wrapper that calls it: crossloss's
    mean (ignored labels and class weights out of its count), and NumPy's."""
    logits = rng.normal(0, 2, (8, 3)).astype("float32")
    labels = np.array([0, 2, 1, 2, 0, 1, 2, 2])
    found = {}
    for params in ({"ignore_index": 2}, {"class_weight": [1.0, 4.0, 0.5]}):
        loss = crossloss.keras.SparseCategoricalCrossentropy(from_logits=True, **params)
        found[str(params)] = [float(keras.ops.convert_to_numpy(keras.ops.mean(loss.call(labels, logits)))),
                              float(crossloss.get("scce", from_logits=True, **params)(labels, logits))]
    x = logits.astype("float64")
    nll = np.log(np.exp(x).sum(1)) - x[np.arange(8), labels]
    kept, weight = labels != 2, np.array([1.0, 4.0, 0.5])[labels]
    found["numpy"] = [float(nll[kept].mean()), float(np.sum(weight * nll) / np.sum(weight))]
    return found


out["compat_refused"] = refusal(lambda: crossloss.keras.get("mse", compat="keras"))


@section("users_loss_unregistered_on_load")
def _():
    """A model saved with a user's own loss, loaded where the module that registers it is not imported."""
    @crossloss.loss("users_own_error", formula="e^2", reference=lambda y_true, y_pred: (y_pred - y_true) ** 2)
    def users_own_error(c, y_true, y_pred):
        return c.ops.square(y_pred - y_true)
    small = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    small.compile(loss=crossloss.keras.get("users_own_error"))
    saved = os.path.join(sys.argv[1], f"users_loss_{out['backend']}.keras")
    small.save(saved)
    crossloss.unregister("users_own_error")
    try:
        keras.models.load_model(saved)
    except crossloss.UnknownLossError as error:
        return f"{type(error).__name__}: {error}"
    return "no error"
# Dice's values are per sample and class: a (B, T) mask with T == C would pass as class weights
dice_seq = keras.Sequential([keras.Input((3,)), keras.layers.Embedding(20, 4, mask_zero=True),
                             keras.layers.Dense(3, activation="softmax")])
dice_seq.compile(loss=crossloss.keras.Dice())
out["dice_mask_refused"] = refusal(lambda: dice_seq.evaluate(np.array([[5, 7, 0], [3, 2, 9]]),
                                                              np.array([[0, 1, 2], [2, 2, 1]]), verbose=0))
out["bad_reduction"] = refusal(lambda: crossloss.keras.get("mse", reduction="avg"))
# Keras casts inputs to the loss's dtype, which dropped the imaginary part (keras.losses' own give a number)
complex_pred = np.array([[0.2 + 5j, 0.7 - 3j]], np.complex64)
out["complex_refused"] = [refusal(lambda: crossloss.keras.get("bce")(np.array([[0.0, 1.0]]), p))
                          for p in (complex_pred, keras.ops.convert_to_tensor(complex_pred), complex_pred.tolist())]
out["keras_name"] = crossloss.keras.get("scce", from_logits=True, name="seg_ce").name  # Keras's name=, not the loss's
out["positional_refused"] = refusal(lambda: crossloss.keras.Huber(2.0))  # keras.losses.Huber(2.0) is delta=2.0
out["int_dtype_refused"] = refusal(lambda: crossloss.keras.Huber(dtype="int32"))  # inputs cast to it: 0.9 -> 0
out["backend_refused"] = refusal(lambda: crossloss.keras.get("mse", backend="torch"))  # the config drops it
out["dtype_typo_refused"] = refusal(lambda: crossloss.keras.Huber(dtype="flaot32"))  # Keras's own error named nothing
out["unknown_parameter"] = refusal(lambda: crossloss.keras.Huber(delt=2.0))  # listed backend=, which it refuses
out["array_delta"] = number(crossloss.keras.Huber(delta=np.array(2.0)), np.zeros((1, 1)), np.full((1, 1), 3.0))
try:
    crossloss.keras.get("hubr")
except KeyError as error:
    out["unknown_name"] = str(error)
# a zero-size batch: Keras's reduction returns the values of shape (0,) unreduced
out["empty_batch"] = {reduction: keras.ops.convert_to_numpy(crossloss.keras.SparseCategoricalCrossentropy(
    from_logits=True, reduction=reduction)(np.zeros((0,), "int64"), np.zeros((0, 3), "float32"))).tolist()
    for reduction in ("sum_over_batch_size", "sum", "mean_with_sample_weight", "none")}


# mixed precision: the loss is computed in float32 and training stays finite
out["mixed"] = {}
for policy in ("mixed_float16", "mixed_bfloat16"):
    keras.mixed_precision.set_dtype_policy(policy)
    m = segmentation_model()
    m.compile(optimizer=keras.optimizers.SGD(0.1), loss=crossloss.keras.get("dice", ignore_index=255))
    history = m.fit(x, labels, batch_size=8, epochs=2, verbose=0).history["loss"]
    output = m(x[:4])
    value = m.loss(labels[:4], output)
    # the same outputs widened first: equal only if the half-precision call computed in float32 too
    widened = m.loss(labels[:4], keras.ops.cast(output, "float32"))
    out["mixed"][policy] = {"loss": history, "dtype": str(keras.backend.standardize_dtype(value.dtype)),
                            "output_dtype": str(keras.backend.standardize_dtype(m(x[:1]).dtype)),
                            "value": float(value), "widened": float(widened)}
    keras.mixed_precision.set_dtype_policy("float32")
print("JSON" + json.dumps(out))
