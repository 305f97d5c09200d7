"""tf.distribute.MirroredStrategy on 2 logical CPU devices: a custom loop with
crossloss.distributed.global_mean, and Keras fit, against one device. Prints one JSON object."""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

import crossloss  # noqa: E402
import crossloss.distributed  # noqa: E402
import crossloss.keras  # noqa: E402

rng = np.random.default_rng(0)
x = rng.normal(size=(8, 4))
labels = rng.integers(0, 3, 8)
labels[:3] = -1  # the first replica's half holds three ignored labels
weights = rng.uniform(size=8)
loss = crossloss.get("scce", from_logits=True, ignore_index=-1, class_weight=[1.0, 2.0, 0.5])
kernel0 = rng.normal(size=(4, 3))
out = {}

# one device
kernel = tf.Variable(kernel0)
with tf.GradientTape() as tape:
    value = loss(labels, tf.constant(x) @ kernel, sample_weight=weights)
out["single"] = [float(value), tape.gradient(value, kernel).numpy().tolist()]

# two replicas, a custom loop
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    kernel = tf.Variable(kernel0)


def shard(array):
    return strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.constant(array[ctx.replica_id_in_sync_group * 4:(ctx.replica_id_in_sync_group + 1) * 4]))


def step(x_shard, label_shard, weight_shard):
    with tf.GradientTape() as tape:
        total, count = loss.parts(label_shard, x_shard @ kernel, weight_shard)
        value = crossloss.distributed.global_mean(total, count)
    return value, tape.gradient(value, kernel), total / count


values, grads, naive = strategy.run(step, args=(shard(x), shard(labels), shard(weights)))
out["mirrored"] = [float(strategy.reduce("SUM", values, axis=None)),
                   strategy.reduce("SUM", grads, axis=None).numpy().tolist(),
                   float(strategy.reduce("MEAN", naive, axis=None))]



def numpy_total(_):  # a replica's NumPy total cannot be all-reduced: refused, naming the argument
    try:
        crossloss.distributed.global_mean(np.float64(1.5), 3)
    except crossloss.LossTypeError as error:
        return str(error)
    return "accepted"


out["numpy_in_replica"] = strategy.run(numpy_total, args=(None,))
out["numpy_in_replica"] = [out["numpy_in_replica"]] if isinstance(out["numpy_in_replica"], str) else \
    list(strategy.experimental_local_results(out["numpy_in_replica"]))

# Keras fit: two replicas against one device, same initial weights, same batches
rng_fit = np.random.default_rng(1)
x_fit = rng_fit.normal(size=(16, 4)).astype("float32")
targets = np.eye(3)[rng_fit.integers(0, 3, 16)].astype("float32")
initial = [rng_fit.normal(size=(4, 3)).astype("float32"), np.zeros(3, "float32")]


def fit(strategy, loss, y, activation="softmax", samples=16):
    with strategy.scope():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation=activation)])
        model.set_weights(initial)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
    history = model.fit(x_fit[:samples], y[:samples], batch_size=8, epochs=3, shuffle=False, verbose=0).history["loss"]
    return [history, model.get_weights()[0].tolist()]


one_device = tf.distribute.OneDeviceStrategy("/cpu:0")
out["keras_fit"] = [fit(one_device, crossloss.keras.get("dice", axis=-1), targets),
                    fit(strategy, crossloss.keras.get("dice", axis=-1), targets)]
# ignored labels fall unevenly between the replicas' halves of each batch of 8
sparse = rng_fit.integers(0, 3, 16)
sparse[[0, 1, 2, 8]] = -1
out["keras_fit_ignored"] = [fit(s, crossloss.keras.get("scce", from_logits=True, ignore_index=-1), sparse, None)
                            for s in (one_device, strategy)]
# 15 samples: the last batch of 7 splits 4 + 3 between the replicas, with nothing ignored
for name, loss, y, activation in (("mse", "mse", targets, None), ("scce", "scce", rng_fit.integers(0, 3, 16), "softmax"),
                                  ("dice", "dice", targets, "softmax")):
    out[f"keras_fit_uneven_{name}"] = [fit(s, crossloss.keras.get(loss), y, activation, samples=15)
                                       for s in (one_device, strategy)]
# one Dice over the whole batch: each replica would score its own shard; refused, not trained apart
try:
    fit(strategy, crossloss.keras.get("dice", axis=-1, batch=True), targets)
    out["keras_fit_batch_dice"] = "trained"
except Exception as error:  # noqa: BLE001 (the test reads the refusal)
    out["keras_fit_batch_dice"] = f"{type(error).__name__}: {error}"
out["keras_fit_batch_dice_one_device"] = fit(one_device, crossloss.keras.get("dice", axis=-1, batch=True), targets)[0]
print("JSON" + json.dumps(out))
