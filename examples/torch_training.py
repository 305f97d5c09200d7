"""A torch training loop with crossloss: sparse cross-entropy with ignored labels and label
smoothing, and Dice, on a tiny synthetic segmentation task.

    python examples/torch_training.py
"""
import torch

import crossloss.torch

torch.manual_seed(0)
images = torch.randn(32, 1, 16, 16)
masks = (images[:, 0] > 0.5).long() + (images[:, 0] > 1.5).long()  # 3 classes
masks[:, :2, :] = 255  # ignored border

net = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 3, 1))
cross_entropy = crossloss.torch.get("scce", from_logits=True, ignore_index=255, label_smoothing=0.05)
dice = crossloss.torch.get("dice", activation="softmax", ignore_index=255)
optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
losses = []
for epoch in range(15):
    optimizer.zero_grad()
    logits = net(images)
    loss = cross_entropy(logits, masks) + dice(logits, masks)
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
print("loss per epoch:", " ".join(f"{v:.3f}" for v in losses))
assert losses[-1] < losses[0]
