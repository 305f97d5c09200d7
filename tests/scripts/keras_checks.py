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

# a non-default parameter survives saving
regression = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
regression.compile(optimizer="sgd", loss=crossloss.keras.Huber(delta=2.0))
xr, yr = rng.normal(size=(12, 4)).astype("float32"), rng.normal(size=(12, 1)).astype("float32") * 5
path = os.path.join(sys.argv[1], f"huber_{out['backend']}.keras")
regression.save(path)
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

# mixed precision: the loss is computed in float32 and training stays finite
out["mixed"] = {}
for policy in ("mixed_float16", "mixed_bfloat16"):
    keras.mixed_precision.set_dtype_policy(policy)
    m = segmentation_model()
    m.compile(optimizer=keras.optimizers.SGD(0.1), loss=crossloss.keras.get("dice", ignore_index=255))
    history = m.fit(x, labels, batch_size=8, epochs=2, verbose=0).history["loss"]
    value = m.loss(labels[:4], m(x[:4]))
    out["mixed"][policy] = {"loss": history, "dtype": str(keras.backend.standardize_dtype(value.dtype)),
                            "output_dtype": str(keras.backend.standardize_dtype(m(x[:1]).dtype))}
    keras.mixed_precision.set_dtype_policy("float32")
print("JSON" + json.dumps(out))
