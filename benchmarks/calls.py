"""How a loss is called, against native code that computes the same weighted mean, same run.

speed.py binds each loss once and calls it unweighted. Here the same losses are called as
training code writes them:

- ``bound``:  ``loss = crossloss.get(...)`` once, then ``loss(y_true, y_pred, sample_weight=w)``;
- ``inline``: ``crossloss.get(...)(y_true, y_pred, sample_weight=w)`` on every call (the README's
  example), which pays ``get()``'s validation and finds its plan among those of losses bound alike.

``w`` weighs each sample (shape (B,)); the native side is the framework's unreduced loss times
``w`` and its mean, crossloss's weighted mean (sum(w * l) / count). Same inputs and timing as
speed.py (interleaved, medians).

    python benchmarks/calls.py [--backends torch,numpy] [--sizes 1e3,1e5]
"""
from __future__ import annotations

import argparse
import os
import statistics

import numpy as np

import crossloss
from speed import RESULTS, interleaved_times, make_inputs, to_framework, write_results

# (loss, crossloss parameters, kind of inputs)
CASES = [
    ("mean_squared_error", {}, "regression"),
    ("huber", {"delta": 2.0}, "regression"),
    ("sparse_categorical_crossentropy", {"from_logits": True}, "sparse_logits"),
]


def torch_natives():
    import torch.nn.functional as F
    return {
        "mean_squared_error": ("(F.mse_loss(none) * w).mean()",
                               lambda t, p, w: (F.mse_loss(p, t, reduction="none") * w[:, None]).mean()),
        "huber": ("(F.huber_loss(none) * w).mean()",
                  lambda t, p, w: (F.huber_loss(p, t, reduction="none", delta=2.0) * w[:, None]).mean()),
        "sparse_categorical_crossentropy": ("(F.cross_entropy(none) * w).mean()",
                                            lambda t, x, w: (F.cross_entropy(x, t, reduction="none") * w).mean()),
    }


def numpy_natives():
    def huber(t, p, w):
        e = np.abs(p - t)
        return (np.where(e <= 2.0, 0.5 * e * e, 2.0 * (e - 1.0)) * w[:, None]).mean()

    def sparse_logits(t, x, w):
        shifted = x - x.max(axis=-1, keepdims=True)
        log_q = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        return (-np.take_along_axis(log_q, t[:, None], axis=-1)[:, 0] * w).mean()
    return {
        "mean_squared_error": ("((p - t)**2 * w).mean()", lambda t, p, w: ((p - t) ** 2 * w[:, None]).mean()),
        "huber": ("where(|e| <= d, ...) * w, mean", huber),
        "sparse_categorical_crossentropy": ("-take_along_axis(log_softmax) * w, mean", sparse_logits),
    }


NATIVES = {"torch": torch_natives, "numpy": numpy_natives}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="torch,numpy")
    parser.add_argument("--sizes", default="1e3,1e5")
    parser.add_argument("--budget", type=float, default=1.0, help="seconds per comparison")
    parser.add_argument("--out", default=str(RESULTS / "calls.json"))
    args = parser.parse_args(argv)
    args.load_at_start, args.quick, args.value_checks = os.getloadavg(), False, "auto"
    rows = []
    print(f"{'loss':<32} {'call':<7} {'backend':<8} {'size':>7}  {'native':<42} {'crossloss µs':>12} "
          f"{'native µs':>10} {'ratio':>6}")
    for backend in args.backends.split(","):
        natives = NATIVES[backend]()
        for name, params, kind in CASES:
            for size in (int(float(s)) for s in args.sizes.split(",")):
                y_np, p_np = make_inputs(kind, size, np.random.default_rng(0))
                w_np = np.random.default_rng(1).random(p_np.shape[0], dtype=np.float32)
                y, p, w = (to_framework(a, backend) for a in (y_np, p_np, w_np))
                native_name, native = natives[name]
                bound = crossloss.get(name, **params)
                calls = {"bound": lambda: bound(y, p, sample_weight=w),
                         "inline": lambda: crossloss.get(name, **params)(y, p, sample_weight=w)}
                for call, ours in calls.items():
                    agree = bool(np.allclose(float(ours()), float(native(y, p, w)), rtol=1e-4))
                    ours_s, theirs_s = interleaved_times(ours, lambda: native(y, p, w), args.budget, 5, 2000)
                    row = {"loss": name, "call": call, "backend": backend, "size": size, "native": native_name,
                           "crossloss_us": statistics.median(ours_s) * 1e6,
                           "native_us": statistics.median(theirs_s) * 1e6, "agree": agree}
                    row["ratio"] = row["crossloss_us"] / row["native_us"]
                    rows.append(row)
                    print(f"{name:<32} {call:<7} {backend:<8} {size:>7.0e}  {native_name:<42} "
                          f"{row['crossloss_us']:>12.1f} {row['native_us']:>10.1f} {row['ratio']:>6.2f}"
                          f"{'' if agree else '  ! values differ'}", flush=True)
    write_results(args, rows)


if __name__ == "__main__":
    main()
