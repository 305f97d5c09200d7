"""Peak extra memory of sparse cross-entropy and Dice with integer labels, against the native
or one-hot approach, in the same run.

Inputs: y_pred of shape SHAPE = (4, 21, 256, 256) float32 (class axis 1, so ``axis=1``) and
integer labels of shape (4, 256, 256). Reported: the peak of bytes allocated during the call
beyond what was allocated before it, divided by the bytes of y_pred (0.5 = half of y_pred's
size in temporaries; a one-hot float32 target alone is 1.0).

Method:
  * torch (CPU): ``torch.profiler.profile(profile_memory=True)`` records every allocation and
    free of the CPU allocator as a "[memory]" event with its signed byte count and time; the
    peak is the maximum of their running sum. "fwd" is ``loss(y_true, y_pred)``; "fwd+bwd" is
    ``loss(...).backward()`` with y_pred a leaf that requires grad, so it includes y_pred's
    gradient (1.0) and the tensors autograd saves. Each call is run once untimed before.
  * NumPy: ``tracemalloc`` (NumPy reports its array buffers to it): peak minus the traced
    memory just before the call, after ``tracemalloc.reset_peak()``. Forward only.

  * torch on CUDA (``--backends torch:cuda``): the caching allocator's peak,
    ``torch.cuda.max_memory_allocated()`` after a reset, minus the bytes allocated before.
  * TensorFlow (``--backends tensorflow``): the BFC allocator's peak of bytes in use
    (``TF_CPU_ALLOCATOR_USE_BFC=true``; ``tf.config.experimental.get_memory_info``) after a
    reset, minus the bytes in use before. BFC hands out a free chunk whole where it is less
    than twice the request, so a peak depends on what was freed before: each peak is
    measured in a process of its own, after one warm-up call. "fwd+bwd" is the gradient in
    y_pred under a ``tf.GradientTape``, the gradient (1.0) included.

    python benchmarks/memory.py [--backends torch,numpy,tensorflow,torch:cuda]

Writes benchmarks/results/memory.json.
"""
from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tracemalloc

import numpy as np

import crossloss
from speed import (LOG_FLOOR, RESULTS, np_dice, np_one_hot, np_softmax, np_sparse_logits, np_sparse_probs,
                   torch_dice, torch_one_hot, torch_sparse_probs, write_results)

SHAPE = (4, 21, 256, 256)  # (batch, classes, H, W)

# (loss, variant, crossloss parameters, y_pred kind)
CASES = [
    ("sparse_categorical_crossentropy", "probabilities", {"axis": 1}, "probabilities"),
    ("sparse_categorical_crossentropy", "from_logits", {"axis": 1, "from_logits": True}, "logits"),
    ("dice", "activation=None", {"axis": 1}, "probabilities"),
    ("dice", "activation=softmax", {"axis": 1, "activation": "softmax"}, "logits"),
]


def torch_natives():
    """{variant: [(name, fn(labels, y_pred))]}: what one writes in plain torch."""
    import torch
    import torch.nn.functional as F

    def one_hot_dice(t, p):
        return torch_dice(torch_one_hot(t, p.shape[1]), p)

    return {
        "probabilities": [("F.nll_loss(log p)", lambda t, p: F.nll_loss(torch.log(p).clamp_min(LOG_FLOOR), t)),
                          ("-log(p.gather(label)).mean()", torch_sparse_probs)],
        "from_logits": [("F.cross_entropy", lambda t, x: F.cross_entropy(x, t))],
        "activation=None": [("F.one_hot + dice formula", one_hot_dice)],
        "activation=softmax": [("softmax + F.one_hot + dice", lambda t, x: one_hot_dice(t, torch.softmax(x, 1)))],
    }


def numpy_natives():
    def one_hot_dice(t, p):
        return np_dice(np_one_hot(t, p.shape[1], axis=1), p)

    return {
        "probabilities": [("-mean(log take_along_axis(p))", np_sparse_probs),
                          ("-mean(take(log p))", lambda t, p: -np.mean(np.take_along_axis(
                              np.maximum(np.log(p), LOG_FLOOR), np.expand_dims(t, 1), 1)))],
        "from_logits": [("-mean(take_along_axis(log_softmax))", np_sparse_logits)],
        "activation=None": [("np.eye one-hot + dice formula", one_hot_dice)],
        "activation=softmax": [("softmax + one-hot + dice", lambda t, x: one_hot_dice(t, np_softmax(x, 1)))],
    }


def tensorflow_natives():
    import keras
    import tensorflow as tf

    channels_last = (0, 2, 3, 1)  # Keras's and tf.nn's class axis is the last one
    scce = keras.losses.SparseCategoricalCrossentropy()
    dice = keras.losses.Dice(axis=(2, 3))

    def one_hot_dice(t, p):
        return dice(tf.one_hot(t, p.shape[1], axis=1), p)

    return {
        "probabilities": [("keras SCCE(transpose(p))", lambda t, p: scce(t, tf.transpose(p, channels_last)))],
        "from_logits": [("tf.nn.sparse_softmax_xent(transpose(x))", lambda t, x: tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=t, logits=tf.transpose(x, channels_last))))],
        "activation=None": [("tf.one_hot + keras.losses.Dice", one_hot_dice)],
        "activation=softmax": [("softmax + tf.one_hot + keras Dice", lambda t, x: one_hot_dice(t, tf.nn.softmax(x, 1)))],
    }


def make_inputs(kind: str):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPE, dtype=np.float32)
    labels = rng.integers(0, SHAPE[1], SHAPE[:1] + SHAPE[2:])
    return labels, (np_softmax(x, 1) if kind == "probabilities" else x)


def torch_peak(fn) -> int:
    """Peak bytes allocated beyond the starting point while fn() runs."""
    from torch.profiler import ProfilerActivity, profile
    gc.collect()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted((e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
                    key=lambda e: e.start_ns())
    running = peak = 0
    for e in events:
        running += e.nbytes()
        peak = max(peak, running)
    return peak


def numpy_peak(fn) -> int:
    """Peak bytes traced beyond the starting point while fn() runs."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def measure_torch(call, labels_np, pred_np) -> dict:
    """Peaks of call(labels, y_pred): forward on a plain tensor; forward+backward on a leaf."""
    import torch
    labels, pred = torch.from_numpy(labels_np), torch.from_numpy(pred_np)
    leaf = torch.from_numpy(pred_np).requires_grad_(True)

    def forward():
        call(labels, pred)

    def forward_backward():
        call(labels, leaf).backward()

    forward(), forward_backward()  # warm-up
    leaf.grad = None
    return {"fwd": torch_peak(forward), "fwd+bwd": torch_peak(forward_backward)}


def measure_cuda(call, labels_np, pred_np) -> dict:
    """As measure_torch, on CUDA: the caching allocator's peak of allocated bytes beyond those
    allocated before the call (torch.cuda.max_memory_allocated after a reset)."""
    import torch
    labels, pred = torch.from_numpy(labels_np).cuda(), torch.from_numpy(pred_np).cuda()
    leaf = pred.clone().requires_grad_(True)

    def peak(fn):
        torch.cuda.synchronize()
        gc.collect()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before

    def forward_backward():
        call(labels, leaf).backward()
        leaf.grad = None  # (after the peak: the gradient's 1.0 counts, as on CPU)

    call(labels, pred), forward_backward()  # warm-up
    return {"fwd": peak(lambda: call(labels, pred)), "fwd+bwd": peak(forward_backward)}


def tensorflow_peak(case: int, method: int, mode: str) -> int:
    """In this process: the BFC allocator's peak bytes in use beyond those in use before one
    call (after a warm-up call) of CASES[case] by method (0: crossloss, then the natives)."""
    import tensorflow as tf
    loss_name, variant, params, kind = CASES[case]
    fn = crossloss.get(loss_name, backend="tensorflow", **params) if method == 0 else \
        tensorflow_natives()[variant][method - 1][1]
    labels, pred = (tf.constant(a) for a in make_inputs(kind))

    def call():
        if mode == "fwd":
            return fn(labels, pred)
        with tf.GradientTape() as tape:
            tape.watch(pred)
            loss = fn(labels, pred)
        return tape.gradient(loss, pred)

    call()  # warm-up
    gc.collect()
    tf.config.experimental.reset_memory_stats("CPU:0")
    before = tf.config.experimental.get_memory_info("CPU:0")["current"]
    call()
    return tf.config.experimental.get_memory_info("CPU:0")["peak"] - before


def measure_tensorflow(case: int, method: int) -> dict:
    """Each peak in a process of its own (tensorflow_peak)."""
    env = {**os.environ, "TF_CPU_ALLOCATOR_USE_BFC": "true", "TF_CPP_MIN_LOG_LEVEL": "2"}
    peaks = {}
    for mode in ("fwd", "fwd+bwd"):
        run = subprocess.run([sys.executable, __file__, "--tensorflow-peak", str(case), str(method), mode],
                             env=env, capture_output=True, text=True)
        if run.returncode:
            raise RuntimeError(f"tensorflow_peak {case} {method} {mode}:\n{run.stderr[-3000:]}")
        peaks[mode] = int(run.stdout.split()[-1])
    return peaks


def measure_numpy(call, labels, pred) -> dict:
    call(labels, pred)  # warm-up
    return {"fwd": numpy_peak(lambda: call(labels, pred))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="torch,numpy")
    parser.add_argument("--value-checks", default="auto", choices=("auto", "always", "never"),
                        help="crossloss's value_checks for the run (always: CUDA inputs are read too)")
    parser.add_argument("--out", default=str(RESULTS / "memory.json"))
    parser.add_argument("--tensorflow-peak", nargs=3, metavar=("CASE", "METHOD", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tensorflow_peak:  # a child of measure_tensorflow
        case, method, mode = args.tensorflow_peak
        crossloss.set_options(value_checks=args.value_checks)
        print(tensorflow_peak(int(case), int(method), mode))
        return 0
    crossloss.set_options(value_checks=args.value_checks)
    args.quick, args.budget, args.load_at_start = False, None, os.getloadavg()  # (for speed.environment)
    args.device = "cuda" if "torch:cuda" in args.backends.split(",") else "cpu"
    rows = []
    print(f"{'loss':<32} {'variant':<19} {'backend':<10} {'method':<36} {'fwd':>6} {'fwd+bwd':>8}   (peak extra / y_pred bytes)")
    for backend in args.backends.split(","):
        natives = {"numpy": numpy_natives, "tensorflow": tensorflow_natives}.get(backend, torch_natives)()
        for case, (loss_name, variant, params, kind) in enumerate(CASES):
            labels, pred = make_inputs(kind)
            loss = crossloss.get(loss_name, **params)
            for index, (method, fn) in enumerate([("crossloss", None)] + natives[variant]):
                row = {"loss": loss_name, "variant": variant, "backend": backend, "method": method,
                       "shape": list(SHAPE), "y_pred_bytes": pred.nbytes}
                if backend == "tensorflow":
                    peaks = measure_tensorflow(case, index)
                else:
                    measure = {"torch": measure_torch, "torch:cuda": measure_cuda, "numpy": measure_numpy}[backend]
                    peaks = measure(fn or loss, labels, pred)
                for k, v in peaks.items():
                    row[f"{k}_bytes"], row[f"{k}_ratio"] = v, v / pred.nbytes
                rows.append(row)
                both = f"{row['fwd+bwd_ratio']:>8.2f}" if "fwd+bwd_ratio" in row else f"{'-':>8}"
                print(f"{loss_name:<32} {variant:<19} {backend:<10} {method:<36} {row['fwd_ratio']:>6.2f} {both}", flush=True)
    write_results(args, rows, method={
        "torch": "torch.profiler profile_memory: max running sum of CPU allocator events",
        "torch:cuda": "torch.cuda.max_memory_allocated after a reset, minus memory_allocated before",
        "numpy": "tracemalloc peak minus traced memory before the call",
        "tensorflow": "BFC allocator (TF_CPU_ALLOCATOR_USE_BFC=true) peak minus bytes in use before the call, "
                      "each peak in a process of its own after a warm-up call"})


if __name__ == "__main__":
    sys.exit(main())
