"""The README's comparison table: on one set of inputs, crossloss's default against
compat="torch" and compat="keras", with the reason each differs. Computed, never typed:

    python -m crossloss.conformance.compat_table
"""
from __future__ import annotations

import numpy as np

import crossloss

F32 = np.float32
ROWS = [  # (loss, parameters, reduction, y_true, y_pred, input shown, why they differ)
    ("binary_crossentropy", {}, "mean", [[1.0, 0.0, 1.0]], [[0.0, 1.0, 0.5]], "y = [1, 0, 1], p = [0, 1, 0.5]",
     "logs floored at -100 (torch too); Keras clips p to [1e-7, 1 - 1e-7], and 1 - 1e-7 rounds in float32"),
    ("categorical_crossentropy", {}, "mean", [[1.0, 0.0, 0.0]], [[0.2, 0.2, 0.2]], "y = [1, 0, 0], p = [0.2, 0.2, 0.2]",
     "crossloss never renormalises p; Keras divides by sum(p); torch's cross_entropy reads p as logits"),
    ("sparse_categorical_crossentropy", {}, "mean", [0], [[0.2, 0.2, 0.2]], "label 0, p = [0.2, 0.2, 0.2]",
     "as above; Keras clips, logs and renormalises in log space"),
    ("kl_divergence", {}, "mean", [[0.5, 0.5]], [[0.25, 0.75]], "p = [0.5, 0.5], q = [0.25, 0.75]",
     "torch's 'mean' divides by every element (C x B), not by B; it takes log q (given here as log q)"),
    ("mean_squared_error", {}, "sum", [[0.0, 0.0], [0.0, 0.0]], [[1.0, 2.0], [3.0, 4.0]], "2 x 2 errors 1, 2, 3, 4",
     "Keras averages each row first, so 'sum' adds row means"),
    ("huber", {"delta": 2.0}, "sum", [[0.0, 0.0], [0.0, 0.0]], [[1.0, 3.0], [0.5, 4.0]], "delta = 2, errors 1, 3, 0.5, 4",
     "as above"),
    ("dice", {}, "mean", [[1.0, 0.0], [0.0, 0.0]], [[0.8, 0.1], [0.2, 0.3]], "2 samples x 2 classes",
     "crossloss: one Dice per sample and class (smoothed by 1e-5), then the mean; Keras: one Dice over all entries"),
]


def _value(name, params, reduction, y_true, y_pred, compat):
    if compat == "torch" and name == "kl_divergence":
        y_pred = np.log(y_pred)
    try:
        loss = crossloss.get(name, backend="numpy", reduction=reduction, compat=compat, **params)
    except ValueError:
        return "-"
    return f"{float(loss(np.asarray(y_true, F32), np.asarray(y_pred, F32))):.6g}"


def table() -> str:
    lines = ["| loss | reduction | input (float32) | crossloss | compat=\"torch\" | compat=\"keras\" | why |",
             "|---|---|---|---|---|---|---|"]
    for name, params, reduction, y_true, y_pred, shown, why in ROWS:
        cells = [_value(name, params, reduction, y_true, y_pred, c) for c in (None, "torch", "keras")]
        lines.append(f"| {name} | {reduction} | {shown} | " + " | ".join(cells) + f" | {why} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
