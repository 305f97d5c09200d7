"""crossloss losses as ``torch.nn.Module`` s, in torch's conventions.

    criterion = crossloss.torch.get("dice", activation="softmax")
    loss = criterion(logits, labels)          # forward(input, target): torch's order

Everything else is crossloss's spec (docs/semantics.md). Losses with a class axis default to
torch's class axis 1 (``axis=`` overrides it), and errors name forward's arguments. Modules
pickle and deep-copy like any module, move with ``.to(device)`` (per-class weights follow the
inputs' device), and run under ``torch.compile``, CPU ``torch.autocast`` (computed in float32)
and on ``meta``.
Importing this module imports torch; ``import crossloss`` alone does not.
"""
from __future__ import annotations

import re

import crossloss
from crossloss import registry
from crossloss.core import unknown_keyword
from crossloss.errors import LossTypeError, LossValueError

crossloss.backends.load("torch")  # without torch: an ImportError that names the extra to install
import torch  # noqa: E402

__all__ = ["Loss", "get"]

_TORCH_NAME = {"y_pred": "input", "y_true": "target"}
_FORWARD_NAMES = {**_TORCH_NAME, "weights": "sample_weight"}
_TORCH_NAMES = re.compile(r"\b(y_pred|y_true)\b")


class Loss(torch.nn.Module):
    """A crossloss loss as a module: ``forward(input, target, sample_weight=None)``.

    ``sample_weight``: a scalar, or a prefix of the unreduced loss's shape (not torch's
    per-class ``weight``, which is ``class_weight`` here). Per-class weights are read once,
    when the module is built: a later change to the tensor given has no effect, and the
    module has no buffers (its ``state_dict`` is empty).
    """

    def __init__(self, name: str, **params):
        super().__init__()
        spec = registry.lookup(name, caller="crossloss.torch.get")
        if "backend" in params:  # a module is torch's: only the torch backend runs it ("Torch", "pt" too)
            backend = params.pop("backend")
            if crossloss.backends.canonical(backend) != "torch":
                raise LossValueError(f"crossloss.torch.get: argument 'backend' expected 'torch' or no backend (a "
                                     f"module runs on torch); got {backend!r}")
        if spec.class_axis and "axis" not in params and params.get("compat") is None:
            params["axis"] = 1  # torch's class axis
        self.loss_name = spec.name
        self._bind(params)

    def _bind(self, params: dict):
        self.loss = crossloss.get(self.loss_name, backend="torch", **params)
        self.loss_params = {k: self.loss.params.get(k, v) for k, v in params.items()}  # as bound: weights copied
        # formatted once, as Loss's repr (vmap names a module by it, inside a trace too)
        self._extra_repr = ", ".join([repr(self.loss_name)] + [f"{k}={v!r}" for k, v in self.loss_params.items()])

    @property
    def reduction(self) -> str:
        """"mean", "sum" or "none", as torch.nn's losses have it; setting it rebinds the loss."""
        return self.loss.reduction

    @reduction.setter
    def reduction(self, value: str):
        self._bind({**self.loss_params, "reduction": value})

    def forward(self, input=None, target=None, sample_weight=None, **unknown):
        if unknown:
            raise unknown_keyword(self.loss.spec, unknown, ("input", "target", "sample_weight"), _FORWARD_NAMES)
        try:
            return self.loss(target, input, sample_weight)
        except (LossValueError, LossTypeError) as error:  # said in forward's own argument names
            raise type(error)(_TORCH_NAMES.sub(lambda m: _TORCH_NAME[m.group()], str(error))) from None

    def extra_repr(self) -> str:
        return self._extra_repr


def get(name: str, **params) -> Loss:
    """The loss ``name`` as a ``torch.nn.Module`` (class axis 1 unless ``axis`` is given)."""
    return Loss(name, **params)
