"""Speed of crossloss against each framework's own fastest equivalent, eager mode, same run.

Each case binds the loss once (``loss = crossloss.get(...)``) and times it against native
code on the same inputs: ``torch.nn.functional`` (or the obvious torch one-liner where torch
has no kernel), ``tf.nn`` and the Keras loss object on TensorFlow, NumPy one-liners. The two
calls are interleaved (A, B, A, B, ...) so that drift in machine load hits both alike; the
repeat count adapts to the size so that each comparison takes about ``--budget`` seconds.
Reported: median time of each and their ratio, crossloss / native (1.0 = as fast; 1.3 = 30%
slower). Both values are compared once per case (np.allclose, rtol 1e-4); "!" marks a mismatch.

    python benchmarks/speed.py                        # all backends, sizes 1e3, 1e5, 1e7
    python benchmarks/speed.py --quick --backends torch --losses dice,huber
    python benchmarks/speed.py --backends torch --value-checks never   # the path of accelerators
    python benchmarks/speed.py --backends torch --device cuda [--backward] [--compile]

Sizes are total elements of y_pred: (size // CLASSES, CLASSES) for every loss but Dice, and
(DICE_BATCH, DICE_CLASSES, H, H) with class axis 1 for Dice. Writes benchmarks/results/speed.json.
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
import traceback
from pathlib import Path

import numpy as np

import crossloss

CLASSES = 10        # class axis (last) of the classification losses
DICE_CLASSES = 4    # Dice inputs are image-like: (DICE_BATCH, DICE_CLASSES, H, H), class axis 1
DICE_BATCH = 2
RESULTS = Path(__file__).resolve().parent / "results"
LOG_FLOOR = crossloss.LOG_FLOOR
SMOOTH = crossloss.spec("dice").defaults()["smooth_nr"]  # smooth_nr == smooth_dr by default

# (loss, variant, crossloss parameters, kind of inputs)
CASES = [
    ("mean_squared_error", "default", {}, "regression"),
    ("mean_absolute_error", "default", {}, "regression"),
    ("huber", "default", {}, "regression"),
    ("smooth_l1", "default", {}, "regression"),
    ("binary_crossentropy", "default", {}, "binary"),
    ("binary_crossentropy", "from_logits", {"from_logits": True}, "binary_logits"),
    ("categorical_crossentropy", "default", {}, "dense"),
    ("categorical_crossentropy", "from_logits", {"from_logits": True}, "dense_logits"),
    ("sparse_categorical_crossentropy", "default", {}, "sparse"),
    ("sparse_categorical_crossentropy", "from_logits", {"from_logits": True}, "sparse_logits"),
    ("kl_divergence", "default", {}, "dense"),
    ("kl_divergence", "from_logits", {"from_logits": True}, "dense_logits"),
    ("dice", "default", {"axis": 1}, "dice"),
    ("dice", "labels", {"axis": 1}, "dice_labels"),
]


# ---- inputs (NumPy float32 / int64, converted to each framework) ----------------------------

def np_log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def np_softmax(x, axis):
    return np.exp(np_log_softmax(x, axis))


def np_one_hot(labels, classes, axis):
    """Float32 one-hot of integer labels, the class axis inserted at ``axis``."""
    return np.moveaxis(np.eye(classes, dtype=np.float32)[labels], -1, axis)


def make_inputs(kind: str, size: int, rng: np.random.Generator):
    """(y_true, y_pred) as NumPy arrays for a kind of loss and a total size of y_pred."""
    if kind.startswith("dice"):
        side = max(1, round(math.sqrt(size / (DICE_BATCH * DICE_CLASSES))))
        shape = (DICE_BATCH, DICE_CLASSES, side, side)
        p = np_softmax(rng.standard_normal(shape, dtype=np.float32), axis=1)
        labels = rng.integers(0, DICE_CLASSES, (DICE_BATCH, side, side))
        return (labels if kind == "dice_labels" else np_one_hot(labels, DICE_CLASSES, axis=1)), p
    shape = (max(1, size // CLASSES), CLASSES)
    x = rng.standard_normal(shape, dtype=np.float32)
    logits = kind.endswith("logits")
    if kind == "regression":
        return rng.standard_normal(shape, dtype=np.float32), x
    if kind.startswith("binary"):
        y = rng.integers(0, 2, shape).astype(np.float32)
        return y, x if logits else 1 / (1 + np.exp(-x))
    if kind.startswith("dense"):
        y = np_softmax(rng.standard_normal(shape, dtype=np.float32), axis=-1)
        return y, x if logits else np_softmax(x, axis=-1)
    if kind.startswith("sparse"):
        return rng.integers(0, CLASSES, shape[0]), x if logits else np_softmax(x, axis=-1)
    raise ValueError(kind)


def to_framework(array, backend: str, device: str = "cpu"):
    if backend == "torch":
        import torch
        return torch.from_numpy(np.ascontiguousarray(array)).to(device)
    if backend == "tensorflow":
        import tensorflow as tf
        return tf.constant(array)
    return array


# ---- native equivalents: {(loss, variant): [(name, fn(y_true, y_pred))]} ----------------------

def torch_dice(t, p):
    """Seed-style soft Dice with dense targets: mean over (batch, class) of 1 - (2I+s)/(P+T+s)."""
    dims = tuple(range(2, p.ndim))
    return (1 - (2 * (p * t).sum(dims) + SMOOTH) / (p.sum(dims) + t.sum(dims) + SMOOTH)).mean()


def torch_one_hot(labels, classes):
    import torch.nn.functional as F
    return F.one_hot(labels, classes).movedim(-1, 1).float()


def torch_sparse_probs(t, p):
    """-log p[label], floored, mean: gather first, like the fastest hand-written version."""
    return -p.gather(1, t.unsqueeze(1)).log().clamp_min(LOG_FLOOR).mean()


def torch_natives():
    import torch
    import torch.nn.functional as F

    def log(p):
        return torch.log(p).clamp_min(LOG_FLOOR)

    return {
        ("mean_squared_error", "default"): [("F.mse_loss", lambda y, p: F.mse_loss(p, y))],
        ("mean_absolute_error", "default"): [("F.l1_loss", lambda y, p: F.l1_loss(p, y))],
        ("huber", "default"): [("F.huber_loss", lambda y, p: F.huber_loss(p, y))],
        ("smooth_l1", "default"): [("F.smooth_l1_loss", lambda y, p: F.smooth_l1_loss(p, y))],
        ("binary_crossentropy", "default"): [("F.binary_cross_entropy", lambda y, p: F.binary_cross_entropy(p, y))],
        ("binary_crossentropy", "from_logits"): [
            ("F.binary_cross_entropy_with_logits", lambda y, x: F.binary_cross_entropy_with_logits(x, y))],
        ("categorical_crossentropy", "default"): [("-(y*log p).sum(-1).mean()", lambda y, p: -(y * log(p)).sum(-1).mean())],
        ("categorical_crossentropy", "from_logits"): [("F.cross_entropy(prob targets)", lambda y, x: F.cross_entropy(x, y))],
        ("sparse_categorical_crossentropy", "default"): [("-log(p.gather(label)).mean()", torch_sparse_probs)],
        ("sparse_categorical_crossentropy", "from_logits"): [("F.cross_entropy", lambda t, x: F.cross_entropy(x, t))],
        ("kl_divergence", "default"): [
            ("F.kl_div(log q, batchmean)", lambda y, p: F.kl_div(log(p), y, reduction="batchmean"))],
        ("kl_divergence", "from_logits"): [
            ("F.kl_div(log_softmax, batchmean)", lambda y, x: F.kl_div(F.log_softmax(x, -1), y, reduction="batchmean"))],
        ("dice", "default"): [("one-hot dice formula", torch_dice)],
        ("dice", "labels"): [("F.one_hot + dice formula", lambda t, p: torch_dice(torch_one_hot(t, p.shape[1]), p))],
    }


def np_dice(t, p):
    dims = tuple(range(2, p.ndim))
    return np.mean(1 - (2 * (p * t).sum(dims) + SMOOTH) / (p.sum(dims) + t.sum(dims) + SMOOTH))


def np_log(p):
    return np.maximum(np.log(p), LOG_FLOOR)


def np_huber(y, p, delta=1.0):
    a = np.abs(p - y)
    return np.mean(np.where(a <= delta, 0.5 * a * a, delta * (a - 0.5 * delta)))


def np_sparse_probs(t, p):
    return -np.mean(np_log(np.take_along_axis(p, np.expand_dims(t, 1), 1)))


def np_sparse_logits(t, x):
    return -np.mean(np.take_along_axis(np_log_softmax(x, 1), np.expand_dims(t, 1), 1))


def numpy_natives():
    return {
        ("mean_squared_error", "default"): [("np.mean((p-y)**2)", lambda y, p: np.mean((p - y) ** 2))],
        ("mean_absolute_error", "default"): [("np.mean(abs(p-y))", lambda y, p: np.mean(np.abs(p - y)))],
        ("huber", "default"): [("np.where huber", np_huber)],
        ("smooth_l1", "default"): [("np.where huber (beta=1)", np_huber)],
        ("binary_crossentropy", "default"): [
            ("-mean(y log p + (1-y) log1p(-p))", lambda y, p: -np.mean(y * np_log(p) + (1 - y) * np.maximum(np.log1p(-p), LOG_FLOOR)))],
        ("binary_crossentropy", "from_logits"): [
            ("mean(max(x,0) - xy + log1p(exp(-|x|)))",
             lambda y, x: np.mean(np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))))],
        ("categorical_crossentropy", "default"): [("-mean(sum(y log p))", lambda y, p: -np.mean(np.sum(y * np_log(p), -1)))],
        ("categorical_crossentropy", "from_logits"): [
            ("-mean(sum(y log_softmax(x)))", lambda y, x: -np.mean(np.sum(y * np_log_softmax(x, -1), -1)))],
        ("sparse_categorical_crossentropy", "default"): [("-mean(log take_along_axis(p))", np_sparse_probs)],
        ("sparse_categorical_crossentropy", "from_logits"): [("-mean(take_along_axis(log_softmax))", np_sparse_logits)],
        ("kl_divergence", "default"): [("mean(sum(y (log y - log q)))", lambda y, p: np.mean(np.sum(y * (np_log(y) - np_log(p)), -1)))],
        ("kl_divergence", "from_logits"): [
            ("mean(sum(y (log y - log_softmax)))", lambda y, x: np.mean(np.sum(y * (np_log(y) - np_log_softmax(x, -1)), -1)))],
        ("dice", "default"): [("one-hot dice formula", np_dice)],
        ("dice", "labels"): [("np.eye one-hot + dice formula", lambda t, p: np_dice(np_one_hot(t, p.shape[1], axis=1), p))],
    }


def tensorflow_natives():
    import keras
    import tensorflow as tf

    def keras_object(obj, prefix=""):
        return (f"{prefix}keras.losses.{type(obj).__name__}", obj)

    dice = keras.losses.Dice(axis=(2, 3))
    return {
        ("mean_squared_error", "default"): [keras_object(keras.losses.MeanSquaredError())],
        ("mean_absolute_error", "default"): [keras_object(keras.losses.MeanAbsoluteError())],
        ("huber", "default"): [keras_object(keras.losses.Huber())],
        ("smooth_l1", "default"): [keras_object(keras.losses.Huber())],  # SmoothL1(beta=1) == Huber(delta=1)
        ("binary_crossentropy", "default"): [keras_object(keras.losses.BinaryCrossentropy())],
        ("binary_crossentropy", "from_logits"): [
            ("tf.nn.sigmoid_cross_entropy_with_logits",
             lambda y, x: tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=x))),
            keras_object(keras.losses.BinaryCrossentropy(from_logits=True))],
        ("categorical_crossentropy", "default"): [keras_object(keras.losses.CategoricalCrossentropy())],
        ("categorical_crossentropy", "from_logits"): [
            ("tf.nn.softmax_cross_entropy_with_logits",
             lambda y, x: tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=x))),
            keras_object(keras.losses.CategoricalCrossentropy(from_logits=True))],
        ("sparse_categorical_crossentropy", "default"): [keras_object(keras.losses.SparseCategoricalCrossentropy())],
        ("sparse_categorical_crossentropy", "from_logits"): [
            ("tf.nn.sparse_softmax_cross_entropy_with_logits",
             lambda t, x: tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=t, logits=x))),
            keras_object(keras.losses.SparseCategoricalCrossentropy(from_logits=True))],
        ("kl_divergence", "default"): [keras_object(keras.losses.KLDivergence())],
        ("kl_divergence", "from_logits"): [  # Keras's KLDivergence takes no logits
            ("tf.nn.log_softmax",
             lambda y, x: tf.reduce_mean(tf.reduce_sum(y * (tf.math.log(y) - tf.nn.log_softmax(x)), -1)))],
        ("dice", "default"): [keras_object(dice)],
        ("dice", "labels"): [("tf.one_hot + keras.losses.Dice", lambda t, p: dice(tf.one_hot(t, p.shape[1], axis=1), p))],
    }


NATIVES = {"torch": torch_natives, "numpy": numpy_natives, "tensorflow": tensorflow_natives}


# ---- timing -----------------------------------------------------------------------------------

def on_device(fn, burst: int):
    """fn called ``burst`` times, then the CUDA device waited for: time / burst is one call's
    share of host work and device work, the queue kept full as in a training loop."""
    import torch

    def timed():
        for _ in range(burst):
            fn()
        torch.cuda.synchronize()
    return timed


def interleaved_times(a, b, budget_s: float, min_reps: int, max_reps: int):
    """Seconds of each call of a() and b(), timed alternately; repeats sized to about budget_s."""
    a(), b()  # warm-up (first-call caches, lazy imports)
    start = time.perf_counter()
    a(), b()
    pair = time.perf_counter() - start
    reps = int(min(max_reps, max(min_reps, budget_s / max(pair, 1e-9))))
    times_a, times_b = [], []
    gc.collect()
    gc.disable()
    try:
        for _ in range(reps):
            t0 = time.perf_counter()
            a()
            t1 = time.perf_counter()
            b()
            t2 = time.perf_counter()
            times_a.append(t1 - t0)
            times_b.append(t2 - t1)
    finally:
        gc.enable()
    return times_a, times_b


def environment(args) -> dict:
    import importlib.metadata as md
    versions = {}
    for package in ("numpy", "torch", "tensorflow", "tensorflow-cpu", "keras"):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            pass
    env = {"python": platform.python_version(), "platform": platform.platform(),
           "processor": platform.processor(), "cpu_count": os.cpu_count(),
           "load_average_at_start": args.load_at_start, "load_average_at_end": os.getloadavg(),
           "crossloss": crossloss.__version__, "versions": versions,
           "argv": sys.argv[1:], "quick": args.quick, "budget_s": args.budget, "value_checks": args.value_checks}
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        env["torch_num_threads"] = torch.get_num_threads()
        if getattr(args, "device", "cpu") == "cuda":
            env.update(device=torch.cuda.get_device_name(), cuda=torch.version.cuda, burst=getattr(args, "burst", None))
    if hasattr(args, "backward"):  # (speed.py's: memory.py measures both)
        env["backward"], env["compiled"] = args.backward, args.compile
    return env


def write_results(args, rows, **about):
    """The JSON a benchmark writes to ``args.out``: the environment (with ``about``) and one dict per row."""
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"environment": {**environment(args), **about}, "results": rows}, indent=1))
    print(f"\nwrote {out}")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="torch,numpy,tensorflow")
    parser.add_argument("--sizes", default=None, help="total elements of y_pred (default 1e3,1e5,1e7)")
    parser.add_argument("--losses", default=None, help="comma-separated loss names (default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, sizes 1e3 and 1e5 only")
    parser.add_argument("--budget", type=float, default=None, help="seconds per comparison (default 1, quick 0.2)")
    parser.add_argument("--value-checks", default="auto", choices=("auto", "always", "never"),
                        help="crossloss's value_checks for the run; 'never' times the path accelerators take "
                             "(nothing read back to the host)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                        help="torch's device (cuda: each sample is --burst calls, then a device sync)")
    parser.add_argument("--burst", type=int, default=20, help="calls per timed sample on cuda")
    parser.add_argument("--compile", action="store_true",
                        help="torch only: both sides under torch.compile (inductor, fullgraph, static shapes)")
    parser.add_argument("--backward", action="store_true",
                        help="torch only: time loss(...).backward() on both sides (y_pred a leaf)")
    parser.add_argument("--out", default=str(RESULTS / "speed.json"))
    args = parser.parse_args(argv)
    if args.burst < 1:
        parser.error(f"--burst expected a number of calls >= 1; got {args.burst}")
    if (args.device != "cpu" or args.backward or args.compile) and args.backends != "torch":
        parser.error("--device, --compile and --backward time torch alone: add --backends torch")
    args.sizes = args.sizes or ("1e3,1e5" if args.quick else "1e3,1e5,1e7")
    args.budget = args.budget or (0.2 if args.quick else 1.0)
    return args


HEADER = f"{'loss':<32} {'variant':<11} {'backend':<10} {'size':>8}  {'native':<42} {'crossloss µs':>12} {'native µs':>11} {'ratio':>6}"


def run_case(loss_name, variant, params, kind, backend, size, natives, args):
    """Rows (dicts) for one case on one backend and size: one per native equivalent."""
    rng = np.random.default_rng(0)
    y_np, p_np = make_inputs(kind, size, rng)
    y, p = to_framework(y_np, backend, args.device), to_framework(p_np, backend, args.device)
    loss = crossloss.get(loss_name, **params)
    label = backend if args.device == "cpu" else f"{backend}:{args.device}"
    rows = []
    if args.compile:
        import torch
        torch._dynamo.reset()
        loss = torch.compile(loss, fullgraph=True, dynamic=False)
        natives = [(name, torch.compile(native, fullgraph=True, dynamic=False)) for name, native in natives]
    for native_name, native in natives:
        row = {"loss": loss_name, "variant": variant, "backend": label, "size": size,
               "shape": list(p_np.shape), "native": native_name, "backward": args.backward, "compiled": args.compile}
        try:
            ours, theirs = float(loss(y, p)), float(native(y, p))
        except Exception:  # a failing crossloss call is reported, never worked around
            row["error"] = traceback.format_exc()
            print(f"{loss_name:<32} {variant:<11} {label:<10} {size:>8.0e}  {native_name:<42} FAILED\n{row['error']}", flush=True)
            rows.append(row)
            continue
        row.update(crossloss_value=ours, native_value=theirs, agree=bool(np.allclose(ours, theirs, rtol=1e-4)))
        ours_fn, theirs_fn = lambda: loss(y, p), lambda: native(y, p)
        if args.backward:
            p.requires_grad_(True)
            ours_fn, theirs_fn = lambda: loss(y, p).backward(), lambda: native(y, p).backward()
        burst = args.burst if args.device == "cuda" else 1
        if args.device == "cuda":  # (a burst of 1: a sync after every call)
            ours_fn, theirs_fn = on_device(ours_fn, burst), on_device(theirs_fn, burst)
        ours_s, theirs_s = interleaved_times(ours_fn, theirs_fn, args.budget,
                                             min_reps=3 if args.quick else 5, max_reps=300 if args.quick else 2000)
        ours_s, theirs_s = [t / burst for t in ours_s], [t / burst for t in theirs_s]
        if args.backward:
            p.requires_grad_(False)
            p.grad = None
        t_ours, t_theirs = statistics.median(ours_s), statistics.median(theirs_s)
        row.update(crossloss_us=t_ours * 1e6, native_us=t_theirs * 1e6, ratio=t_ours / t_theirs,
                   repeats=len(ours_s), crossloss_min_us=min(ours_s) * 1e6, native_min_us=min(theirs_s) * 1e6)
        mark = "" if row["agree"] else f"  ! values differ: {ours:.7g} vs {theirs:.7g}"
        print(f"{loss_name:<32} {variant:<11} {label:<10} {size:>8.0e}  {native_name:<42} "
              f"{row['crossloss_us']:>12.1f} {row['native_us']:>11.1f} {row['ratio']:>6.2f}{mark}", flush=True)
        rows.append(row)
    return rows


def main(argv=None):
    args = parse_args(argv)
    args.load_at_start = os.getloadavg()  # 1, 5, 15 min: other processes skew timings
    crossloss.set_options(value_checks=args.value_checks)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    wanted = {crossloss.spec(n).name for n in args.losses.split(",")} if args.losses else None
    cases = [c for c in CASES if wanted is None or c[0] in wanted]
    rows = []
    print(HEADER)
    for backend in backends:
        natives = NATIVES[backend]()
        for loss_name, variant, params, kind in cases:
            for size in sizes:
                rows += run_case(loss_name, variant, params, kind, backend, size,
                                 natives.get((loss_name, variant), []), args)
    write_results(args, rows)


if __name__ == "__main__":
    main()
