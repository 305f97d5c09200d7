"""Keras segmentation with crossloss's Dice on integer label maps (no one-hot), tiny synthetic data.

    python examples/keras_segmentation.py
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import keras  # noqa: E402

import crossloss.keras  # noqa: E402

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
images = rng.normal(size=(32, 16, 16, 1)).astype("float32")
masks = (images[..., 0] > 0.5).astype("int64") + (images[..., 0] > 1.5).astype("int64")  # 3 classes
masks[:, :2, :] = 255  # a border nobody labelled: ignored

inputs = keras.Input((16, 16, 1))
hidden = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
outputs = keras.layers.Conv2D(3, 1, activation="softmax")(hidden)
model = keras.Model(inputs, outputs)
model.compile(optimizer=keras.optimizers.Adam(0.05),
              loss=crossloss.keras.get("dice", ignore_index=255, include_background=False))
history = model.fit(images, masks, batch_size=8, epochs=8, verbose=0).history["loss"]
print("dice loss per epoch:", " ".join(f"{v:.3f}" for v in history))
assert history[-1] < history[0]
