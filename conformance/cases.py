"""Inputs the harness runs every loss on: seeded random cases from each loss's input domain
and a named edge catalogue per family. Everything is float64 NumPy; the harness casts.

Random inputs are derived from the spec's declared kinds (values, probabilities, labels), so
a user-registered loss gets cases too. Built-in losses add representative parameter sets.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

import crossloss
from crossloss.spec import DENSE_OR_LABELS, LABELS, LOG_PROBABILITIES, PROBABILITIES

SEED = 20261121


@dataclass(frozen=True)
class Case:
    loss: str
    label: str
    params: dict
    y_true: np.ndarray
    y_pred: np.ndarray
    sample_weight: np.ndarray | None = None
    edge: bool = False
    tags: tuple = field(default=())

    @property
    def name(self) -> str:
        shown = {k: (np.asarray(v).round(3).tolist() if isinstance(v, np.ndarray) else v) for k, v in self.params.items()}
        args = ", ".join(f"{k}={v}" for k, v in shown.items())
        return f"{self.loss}({args}) {self.label}"


_WEIGHTS5 = np.array([0.5, 1.0, 2.0, 0.0, 1.5])
_WEIGHTS4 = np.array([1.0, 2.0, 0.25, 1.0])

# Representative parameter sets of the built-in losses (every parameter appears in one).
PARAMETERS: dict[str, list[dict]] = {
    "mean_squared_error": [{}],
    "mean_absolute_error": [{}],
    "huber": [{}, {"delta": 0.3}, {"delta": 2.5}, {"delta": 1e8}, {"delta": 1e39}],  # 1e8: 2^24 times the errors; 1e39: beyond float32
    "smooth_l1": [{}, {"beta": 0.4}, {"beta": 0.0}, {"beta": 1e39}, {"beta": 1e30}, {"beta": 1e-30}],
    "binary_crossentropy": [
        {}, {"from_logits": True},
        {"label_smoothing": 0.2, "pos_weight": 2.0, "neg_weight": 0.5},
        {"from_logits": True, "pos_weight": _WEIGHTS5, "label_smoothing": 0.1},
        {"from_logits": True, "pos_weight": 2.0, "neg_weight": 0.5},
    ],
    "categorical_crossentropy": [
        {}, {"from_logits": True}, {"label_smoothing": 0.1, "class_weight": _WEIGHTS5},
        {"from_logits": True, "axis": 1, "label_smoothing": 0.05},
    ],
    "sparse_categorical_crossentropy": [
        {}, {"from_logits": True}, {"ignore_index": -100, "class_weight": _WEIGHTS5},
        {"from_logits": True, "class_weight": _WEIGHTS5},  # sum(w_y l) / sum(w_y), no label left out
        {"from_logits": True, "ignore_index": 2, "label_smoothing": 0.1, "class_weight": _WEIGHTS5},
        {"axis": 1, "label_smoothing": 0.2},
        {"from_logits": True, "label_smoothing": 1.0},  # the label's own term is gone (0 * -inf: not NaN)
    ],
    "kl_divergence": [{}, {"from_logits": True}, {"axis": 1}],
    "dice": [
        {}, {"activation": "sigmoid", "squared": True}, {"activation": "softmax", "include_background": False},
        {"per_class": False, "smooth_nr": 0.0, "smooth_dr": 1e-3}, {"batch": True},
        {"axis": 1, "labels": True}, {"axis": 1, "labels": True, "ignore_index": 255, "per_class": False},
        {"axis": 1, "labels": True, "activation": "softmax", "batch": True, "squared": True},
        {"axis": None},
    ],
}


def parameter_sets(loss: str) -> list[dict]:
    """The built-ins' representative sets; a user's loss: the defaults, then its own sets (each
    with dense targets and again with integer labels, where it takes both)."""
    return PARAMETERS.get(loss) or with_label_forms(loss, [{}, *crossloss.spec(loss).parameter_sets])


def with_label_forms(loss: str, sets: list[dict]) -> list[dict]:
    """A user's sets, and for a loss whose targets are dense or labels each set again with
    integer labels ("labels": the cases' own key): that path runs other math."""
    if loss in PARAMETERS or crossloss.spec(loss).y_true != DENSE_OR_LABELS:
        return sets
    return [*sets, *({**params, "labels": True} for params in sets)]


def _class_axis(spec, params):
    return params.get("axis", -1) if spec.class_axis else None


def _elementwise(spec, params) -> bool:
    """A loss of one value per entry whose inputs may take any shape: no class axis, not Dice,
    and no weights laid along the last axis."""
    per_column = any(isinstance(v, np.ndarray) for v in params.values())
    return not spec.class_axis and spec.name != "dice" and not per_column


def _classes(params) -> int:
    """The class axis's (or last axis's) size: that of a parameter set's per-class weights, else 5."""
    sizes = {np.size(v) for v in params.values() if isinstance(v, (np.ndarray, list, tuple)) and np.size(v) > 1}
    return sizes.pop() if len(sizes) == 1 else 5


def _shape(spec, params, batch=6):
    axis = _class_axis(spec, params)
    if spec.name == "dice":
        return (3, 8) if axis is None else (2, 4, 3, 3) if axis == 1 else (2, 3, 3, 4)
    classes = _classes(params)
    return (2, classes, 3, 2) if axis == 1 else (batch, classes)


def _distribution(rng, shape, axis):
    z = rng.normal(size=shape) * 1.5
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def random_inputs(spec, params, rng, shape=None, labels=False):
    """(y_true, y_pred) drawn from the loss's input domain."""
    shape = shape or _shape(spec, params)
    axis = _class_axis(spec, params)
    kind = spec.prediction_kind({**spec.defaults(), **params})
    if kind in (PROBABILITIES, LOG_PROBABILITIES):
        y_pred = _distribution(rng, shape, axis) if axis is not None and spec.name != "dice" else rng.uniform(0.02, 0.98, shape)
        y_pred = np.log(y_pred) if kind == LOG_PROBABILITIES else y_pred
    else:
        y_pred = rng.normal(size=shape) * 2.0
    classes = shape[axis] if axis is not None else None
    label_shape = shape[:axis % len(shape)] + shape[axis % len(shape) + 1:] if axis is not None else None
    if spec.y_true == LABELS or (spec.y_true == DENSE_OR_LABELS and labels):
        y_true = rng.integers(0, classes, label_shape).astype(np.int64)
        ignore = params.get("ignore_index")
        if ignore is not None:
            y_true[rng.uniform(size=label_shape) < 0.25] = ignore
    elif spec.y_true == PROBABILITIES and axis is not None:
        y_true = _distribution(rng, shape, axis)
    elif spec.y_true in (PROBABILITIES, DENSE_OR_LABELS):
        y_true = (rng.uniform(size=shape) < 0.4).astype(np.float64)
        # a few soft targets (only there does squared Dice's sum of t^2 differ from its sum of t)
        soft = rng.uniform(size=shape) < 0.2
        y_true[soft] = rng.uniform(size=int(soft.sum()))
    elif spec.target_kind({**spec.defaults(), **params}) == LOG_PROBABILITIES:
        y_true = np.log(_distribution(rng, shape, axis) if axis is not None else rng.uniform(0.02, 0.98, shape))
    else:
        y_true = rng.normal(size=shape)
    return y_true, y_pred


def random_cases(loss: str, seed: int = SEED, params_list=None) -> list[Case]:
    """Random inputs for each parameter set (``params_list``, else the loss's representative sets)."""
    spec = crossloss.spec(loss)
    rng = np.random.default_rng([seed, sum(map(ord, loss))])
    cases = []
    for params in params_list or parameter_sets(spec.name):
        params = dict(params)
        labels = params.pop("labels", False)
        start = len(cases)
        y_true, y_pred = random_inputs(spec, params, rng, labels=labels)
        cases.append(Case(spec.name, "random", params, y_true, y_pred))
        weights = rng.uniform(0.0, 2.0, y_pred.shape[0])
        if not params.get("batch"):
            cases.append(Case(spec.name, "random, sample_weight", params, y_true, y_pred, weights))
            # (B, 1) weighs each sample as (B,) does; the reference's squeeze of it had no case
            cases.append(Case(spec.name, "random, (B, 1) sample_weight", params, y_true, y_pred, weights[:, None]))
        if _elementwise(spec, params):  # any rank
            for label, shape in (("random, 1-D", (7,)), ("random, 4-D", (2, 3, 2, 5))):
                cases.append(Case(spec.name, label, params, *random_inputs(spec, params, rng, shape, labels=labels)))
        if spec.class_axis and spec.name != "dice":  # the class axis last and first, whatever the set's layout
            classes, axis = _classes(params), _class_axis(spec, params)
            layouts = ([("random, (N, C)", params, (5, classes))] if axis == 1 else
                       [("random, (N, H, W, C)", params, (2, 3, 2, classes)),
                        ("random, (N, C, H, W)", {**params, "axis": 1}, (2, classes, 3, 2))])
            for label, layout_params, shape in layouts:
                cases.append(Case(spec.name, label, layout_params,
                                  *random_inputs(spec, layout_params, rng, shape, labels=labels)))
        if spec.name == "dice" and params.get("axis", -1) is not None:  # (B, C): no spatial axes, each entry a region
            cases.append(Case(spec.name, "random, 2-D", params, *random_inputs(spec, params, rng, (5, 4), labels=labels)))
        if labels:
            cases[start:] = _with_labels(cases[start:])
    return cases


def _with_labels(cases: list[Case]) -> list[Case]:
    """Cases of integer labels, named so: their parameters alone do not show it."""
    return [replace(case, label=f"{case.label} (integer labels)") for case in cases]


def edge_cases(loss: str, params_list=None) -> list[Case]:
    """The named edge catalogue of the loss's family, for each parameter set (as random_cases)."""
    spec = crossloss.spec(loss)
    params_list = params_list or parameter_sets(spec.name)
    cases: list[Case] = []
    rng = np.random.default_rng([SEED, 7])
    for params in params_list:
        params = dict(params)
        labels = params.pop("labels", False)
        start = len(cases)
        kind = spec.prediction_kind({**spec.defaults(), **params})
        shape = _shape(spec, params)
        y_true, y_pred = random_inputs(spec, params, rng, shape, labels=labels)
        add = lambda label, t, p, w=None: cases.append(Case(spec.name, label, params, t, p, w, edge=True))
        # a single element and a zero-size batch
        one = (1,) + shape[1:]
        if spec.name != "dice" or params.get("axis", -1) is not None:
            add("single sample", *random_inputs(spec, params, rng, one, labels=labels))
        add("zero-size batch", *random_inputs(spec, params, rng, (0,) + shape[1:], labels=labels))
        if kind == PROBABILITIES:
            p = y_pred.copy()
            flat = p.reshape(-1)
            flat[::3], flat[1::3] = 0.0, 1.0
            add("probabilities exactly 0 and 1", y_true, p)
        elif kind == LOG_PROBABILITIES:
            x = y_pred.copy().reshape(-1)
            x[::3], x[1::3] = 0.0, -np.inf
            add("log-probabilities exactly 0 and -inf", y_true, x.reshape(shape))
        else:
            axis = _class_axis(spec, params)
            if axis is not None and spec.y_true == PROBABILITIES:  # zero targets next to infinite logits
                hard = (y_true == y_true.max(axis=axis, keepdims=True)).astype(np.float64)
                x = y_pred.copy().reshape(-1)
                x[::3], x[1::3] = np.inf, -np.inf
                add("one-hot targets, logits +-inf", hard, x.reshape(shape))
            if params.get("from_logits") or params.get("activation"):  # kinks of relu/abs forms
                add("logits exactly 0", y_true, np.zeros(shape))
            for big in (1e4, 1e8, np.inf):
                x = y_pred.copy().reshape(-1)
                x[::4], x[1::4] = big, -big
                add(f"{'logits' if params.get('from_logits') or params.get('activation') else 'values'} +-{big:g}",
                    y_true, x.reshape(shape))
        if _elementwise(spec, params):
            add("(B,) against (B, 1)", y_true[:, 0], y_pred[:, :1])
            add("float16 extremes", np.clip(y_true * 6e4, -6e4, 6e4) if kind != PROBABILITIES and spec.y_true != PROBABILITIES else y_true,
                np.full(shape, 6e-8) if kind == PROBABILITIES else np.clip(y_pred * 3e4, -6e4, 6e4))
        weights = params.get("class_weight")
        if spec.y_true == LABELS and kind != PROBABILITIES and isinstance(weights, np.ndarray) and (weights == 0).any():
            zero, axis = int(np.argmin(weights)), _class_axis(spec, params)  # a zero weight times log q = -inf
            t, x = y_true.copy(), np.moveaxis(y_pred.copy(), axis, -1)
            t[::2], x[::2, ..., zero] = zero, -np.inf
            add("zero-weight labels at logits -inf", t, np.moveaxis(x, -1, axis))
        if params.get("ignore_index") is not None and (spec.y_true == LABELS or labels):
            add("all labels ignored", np.full_like(y_true, params["ignore_index"]), y_pred)
        if spec.name == "smooth_l1" and params.get("beta"):  # e^2 leaves float32's range at beta = 1e30 or 1e-30
            scale = min(params["beta"], 1e38)  # errors that float32 holds
            add("errors on beta's scale", y_true, y_true + scale * rng.uniform(-2.0, 2.0, shape))
        if spec.name == "dice":
            add("empty masks", np.zeros_like(y_true), y_pred)
            if params.get("activation") is None:
                add("empty predictions", y_true, np.zeros_like(y_pred))
            axis = params.get("axis", -1)
            if axis is not None and not labels and params.get("activation") != "softmax" \
                    and params.get("include_background", True):  # one class: y_true may be its mask, unaxed
                one_class = list(shape)
                one_class[axis] = 1
                mask = np.squeeze(rng.uniform(size=one_class) < 0.5, axis).astype(np.float64)
                add("one class, its mask without the class axis", mask, rng.uniform(0.02, 0.98, one_class))
        if labels:
            cases[start:] = _with_labels(cases[start:])
    return cases


def all_cases(loss: str, edges: bool = True, params_list=None) -> list[Case]:
    return random_cases(loss, params_list=params_list) + (edge_cases(loss, params_list) if edges else [])
