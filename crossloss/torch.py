"""crossloss losses as ``torch.nn.Module`` s, in torch's conventions.

    criterion = crossloss.torch.get("dice", activation="softmax")
    loss = criterion(logits, labels)          # forward(input, target): torch's order

Everything else is crossloss's spec (docs/semantics.md). Losses with a class axis default to
torch's class axis 1 (``axis=`` overrides it), and errors name forward's arguments. Modules
pickle and deep-copy like any module, move with ``.to(device)`` (per-class weights follow the
inputs' device), and run under ``torch.compile``, CPU and CUDA ``torch.autocast`` (computed in float32)
and on ``meta``.
Importing this module imports torch; ``import crossloss`` alone does not.
"""
from __future__ import annotations

import re
from types import MappingProxyType

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
# torch.nn losses' attributes that crossloss names otherwise (or not at all): setting one must
# not pass for a parameter that the loss then ignores
_TORCH_PARAMETERS = frozenset({"weight", "log_target", "size_average", "reduce", "eps", "full"})


class Loss(torch.nn.Module):
    """A crossloss loss as a module: ``forward(input, target, sample_weight=None)``.

    ``sample_weight``: a scalar, or a prefix of the unreduced loss's shape (not torch's
    per-class ``weight``, which is ``class_weight`` here). Parameters are attributes, as on
    torch's loss modules: ``criterion.class_weight = w`` (or ``.delta``, ``.ignore_index``,
    ``.reduction``) binds the loss anew, checked as ``get`` checks them; torch's ``weight``
    is refused with its name here. Per-class weights are read when bound: a later in-place
    change to the tensor given has no effect, and the module has no buffers (its
    ``state_dict`` is empty).
    """

    def __init__(self, name: str | None = None, /, **params):
        super().__init__()
        if name is None:  # (by keyword: a second name= is left to get(), which refuses it)
            name = params.pop("name", None)
        spec = registry.lookup(name, caller="crossloss.torch.get")
        taken = [p.name for p in spec.params if p.name in _MODULE_NAMES]
        if taken:  # as attributes, they would be torch's: eval() would set a parameter named training
            raise LossValueError(f"{spec.name}: argument {taken[0]!r} expected a parameter name that torch.nn.Module "
                                 f"does not use itself (a module's parameters are its attributes); got {taken[0]!r}: "
                                 f"crossloss.get({spec.name!r}, backend='torch') runs the loss as a function")
        if "backend" in params:  # a module is torch's: only the torch backend runs it ("Torch", "pt" too)
            backend = params.pop("backend")
            if crossloss.backends.canonical(backend, spec.name) != "torch":
                raise LossValueError(f"{spec.name}: argument 'backend' expected 'torch' or no backend (a module of "
                                     f"crossloss.torch runs on torch); got {backend!r}")
        if spec.class_axis and "axis" not in params and params.get("compat") is None:
            params["axis"] = 1  # torch's class axis
        self.loss_name = spec.name
        self._bind(params)

    def _bind(self, params: dict):
        self.loss = crossloss.get(self.loss_name, backend="torch", **params)
        self._params = {k: self.loss.params.get(k, v) for k, v in params.items()}  # as bound: weights copied
        # formatted once, as Loss's repr (vmap names a module by it, inside a trace too)
        self._extra_repr = ", ".join([repr(self.loss_name)] + [f"{k}={v!r}" for k, v in self._params.items()])

    @property
    def loss_params(self):
        """The parameters given, as bound (read-only: set one as an attribute to rebind)."""
        return MappingProxyType(self._params)

    def __getattr__(self, name):
        loss = self.__dict__.get("loss")
        if loss is not None and name in loss.params:
            return loss.params[name]
        return super().__getattr__(name)

    def __setattr__(self, name, value):
        loss = self.__dict__.get("loss")
        if loss is not None and (name in loss.params or name in _TORCH_PARAMETERS):
            self._bind({**self._params, name: value})  # torch's weight: refused, naming class_weight
        else:
            super().__setattr__(name, value)

    @property
    def reduction(self) -> str:
        """"mean", "sum" or "none", as torch.nn's losses have it; setting it rebinds the loss."""
        return self.loss.reduction

    @reduction.setter
    def reduction(self, value: str):
        self._bind({**self._params, "reduction": value})

    def forward(self, input=None, target=None, sample_weight=None, **unknown):
        if unknown:
            raise unknown_keyword(self.loss.spec, unknown, ("input", "target", "sample_weight"), _FORWARD_NAMES)
        try:
            return self.loss(target, input, sample_weight)
        except (LossValueError, LossTypeError) as error:  # said in forward's own argument names
            message = _TORCH_NAMES.sub(lambda m: _TORCH_NAME[m.group()], str(error))
            if _labels_first(input, target):
                message += " (a module takes (input, target), torch's order: integer labels came as input)"
            raise type(error)(message) from None

    def extra_repr(self) -> str:
        return self._extra_repr


# what a module's attributes mean already (training is an instance's, not the class's)
_MODULE_NAMES = frozenset(dir(torch.nn.Module())) | frozenset(vars(Loss)) | {"loss", "loss_name"}


def _labels_first(input, target) -> bool:
    """Integer labels given as input and floats as target: Keras's order, (y_true, y_pred)."""
    return isinstance(input, torch.Tensor) and isinstance(target, torch.Tensor) and \
        not (input.is_floating_point() or input.is_complex()) and target.is_floating_point()


def get(name: str | None = None, /, **params) -> Loss:
    """The loss ``name`` as a ``torch.nn.Module`` (class axis 1 unless ``axis`` is given)."""
    return Loss(name, **params)
