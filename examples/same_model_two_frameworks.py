"""Train the same small classifier from the same initial weights in Keras (TensorFlow) and in
torch, with the same crossloss loss, and plot both loss curves: they coincide.

    python examples/same_model_two_frameworks.py [output.png]
"""
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402
import torch  # noqa: E402

import crossloss.keras  # noqa: E402
import crossloss.torch  # noqa: E402

EPOCHS, RATE = 40, 0.5
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 4)).astype("float32")
labels = (x[:, 0] + 2 * x[:, 1] > 0).astype("int64") + (x[:, 2] > 1).astype("int64")  # 3 classes
kernel, bias = rng.normal(size=(4, 3)).astype("float32") * 0.1, np.zeros(3, "float32")
loss_params = dict(from_logits=True, label_smoothing=0.1)

# Keras on TensorFlow
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
model.set_weights([kernel, bias])
model.compile(optimizer=keras.optimizers.SGD(RATE), loss=crossloss.keras.get("scce", **loss_params))
keras_curve = model.fit(x, labels, batch_size=64, epochs=EPOCHS, shuffle=False, verbose=0).history["loss"]

# torch
net = torch.nn.Linear(4, 3)
with torch.no_grad():
    net.weight.copy_(torch.from_numpy(kernel.T))
    net.bias.copy_(torch.from_numpy(bias))
criterion = crossloss.torch.get("scce", **loss_params)
optimizer = torch.optim.SGD(net.parameters(), lr=RATE)
inputs, targets = torch.from_numpy(x), torch.from_numpy(labels)
torch_curve = []
for _ in range(EPOCHS):
    optimizer.zero_grad()
    loss = criterion(net(inputs), targets)
    loss.backward()
    optimizer.step()
    torch_curve.append(loss.item())

gap = float(np.max(np.abs(np.array(keras_curve) - np.array(torch_curve))))
print(f"largest gap between the curves: {gap:.2e}")
figure, axes = plt.subplots(figsize=(6, 3.5))
axes.plot(keras_curve, label="Keras (TensorFlow)", linewidth=4, alpha=0.5)
axes.plot(torch_curve, label="torch", linestyle="--", color="black")
axes.set(xlabel="epoch", ylabel="sparse CE (label smoothing 0.1)",
         title=f"Same model, same loss, two frameworks (largest gap {gap:.1e})")
axes.legend()
figure.tight_layout()
figure.savefig(sys.argv[1] if len(sys.argv) > 1 else "same_model_two_frameworks.png", dpi=100)
