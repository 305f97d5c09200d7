"""The built-in losses: each module lists its specs in ``SPECS``; importing registers them."""
from ..registry import register_built_in
from . import crossentropy, dice, divergence, regression

for _module in (regression, crossentropy, divergence, dice):
    for _spec in _module.SPECS:
        register_built_in(_spec)
