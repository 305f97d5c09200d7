"""The built-in losses: each module lists its specs in ``SPECS``; importing registers them."""
from ..registry import _BUILT_IN, register
from . import crossentropy, dice, divergence, regression

for _module in (regression, crossentropy, divergence, dice):
    for _spec in _module.SPECS:
        register(_spec)
        _BUILT_IN.add(_spec.name)
