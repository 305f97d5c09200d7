"""pytest helpers for users' own losses (and ours).

    def test_my_loss():
        crossloss.testing.assert_backends_agree("log_cosh_error")
"""
from __future__ import annotations

import numpy as np


def assert_backends_agree(name: str, y_true=None, y_pred=None, sample_weight=None, *, backends=None,
                          dtypes=("float64", "float32"), reductions=("mean", "sum", "none"), gradients=True,
                          traces=True, **params) -> int:
    """Run the loss on every backend and dtype and compare with its float64 reference (a loss
    without one is refused). Without inputs, the conformance cases of the loss are used
    (random inputs from its domain and the edge catalogue), for ``params`` if given.
    ``gradients``: also the float64 gradient of the mean on each backend with autograd, in
    y_pred, in a real-valued y_true and in sample_weight, against finite differences of the
    reference (cases without infinite inputs), and torch's against TensorFlow's. ``traces``:
    also the random cases (float32, "mean") under torch.compile(fullgraph=True), on meta
    tensors and in tf.function (with XLA, and with an unknown batch size) against eager.
    ``backends``, ``dtypes``, ``reductions``: lists of names, a str being one name; gradient
    checks run if float64 is selected, trace checks if float32 is.
    Before any check, an unknown name, a selection that would run nothing, a loss without a
    reference or a ``gradients``/``traces`` that is not a bool raises UnknownLossError,
    LossValueError or LossTypeError naming the argument, and a wrong parameter or reduction
    the loss's own error (``crossloss.get``'s), as is an input the loss refuses on NumPy (which reads
    every value). Raises AssertionError listing every
    disagreement, or if nothing was checked; returns the number of checks that passed."""
    import crossloss
    from crossloss.conformance import cases, harness, selection
    from crossloss.errors import did_you_mean

    caller = "assert_backends_agree"
    name = selection.loss(name, caller)  # no reference: refused before any check
    backends = selection.backends(backends, caller)
    dtypes = selection.dtypes(dtypes, backends, caller)
    gradients, traces = selection.flag(gradients, caller, "gradients"), selection.flag(traces, caller, "traces")
    reductions = selection.names(reductions, caller, "reductions")
    misplaced = sorted({"backend", "compat"} & set(params))  # get() would take them, the checks would not
    if misplaced:
        argument = misplaced[0]
        raise crossloss.LossTypeError(f"{caller}: argument {argument!r} expected a parameter of {name}; got "
                                      f"{argument}={params[argument]!r}{did_you_mean(argument, ['backends'])}")
    for reduction in reductions:  # a wrong parameter or reduction: the loss's own error, once
        crossloss.get(name, reduction=reduction, **params)
    if (y_true is None) != (y_pred is None):
        missing, given = ("y_pred", "y_true") if y_pred is None else ("y_true", "y_pred")
        raise crossloss.LossValueError(f"{caller}: argument {missing!r} expected an array beside {given} (both "
                                       f"inputs, or neither for the random cases); got None")
    if y_true is None:
        checked = cases.all_cases(name, params_list=cases.with_label_forms(name, [params]) if params else None)
    else:
        arrays = [np.asarray(a) for a in (y_true, y_pred)]
        weight = None if sample_weight is None else np.asarray(sample_weight)
        try:  # an input the contract refuses: its error, once, not a "disagreement" of every backend
            crossloss.get(name, backend="numpy", **params)(*arrays, sample_weight=weight)
        except crossloss.CrosslossError:
            raise
        except Exception:  # the loss's own failure: the checks report it
            pass
        finite = all(np.isfinite(a).all() for a in arrays)  # else no finite differences, as for the edge cases
        checked = [cases.Case(name, "given inputs", params, *arrays, weight, edge=not finite)]
    results = []
    for label, dtype in harness.value_groups(backends, dtypes):
        results += harness.check_group(checked, label, dtype, reductions)
    if gradients:
        results += harness.gradient_checks(checked, backends, dtypes)
    if traces:
        results += harness.trace_checks(checked, backends, dtypes)
    if not results:
        raise AssertionError(f"crossloss.testing: {name} ran no checks (backends {backends}, dtypes {dtypes}, "
                             f"reductions {reductions})")
    failed = [r for r in results if not r.passed]
    if failed:
        lines = [f"crossloss.testing: {name} disagrees in {len(failed)} of {len(results)} checks"]
        lines += [f"  {r.backend:<10} {r.dtype:<8} {r.reduction:<5} {r.check}: {r.case}: {r.detail}"
                  + (f" (error {r.error:.3g}x the tolerance)" if np.isfinite(r.error) else "") for r in failed[:30]]
        if len(failed) > 30:
            lines.append(f"  ... and {len(failed) - 30} more")
        raise AssertionError("\n".join(lines))
    return len(results)
