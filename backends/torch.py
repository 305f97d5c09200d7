"""PyTorch backend: the op table on ``torch.Tensor``, plus fused kernels of equal semantics.

No op reads a value back to the host except on eager CPU tensors, or on any eager tensor
under ``value_checks="always"``: the value checks' ``range_reader`` and a fused kernel's
one-number result (``kernels.on_finite_logits``); never in a call on a tensor that
``torch.func.vmap`` batches (torch refuses it). So every loss runs under
``torch.compile(fullgraph=True)``, on ``meta`` tensors and on accelerators.
"""
from __future__ import annotations

import math
import numbers
import struct
import warnings

import numpy as np
import torch
import torch.autograd.forward_ad as _forward_ad
import torch.nn.functional as F

from crossloss.backends.kernels import on_finite_logits
from crossloss.losses.crossentropy import smoothed_binary_targets
from crossloss.ops import ABOVE_FLOOR, Ops, refuse_two_numbers

_DTYPES = {
    torch.float16: "float16", torch.bfloat16: "bfloat16", torch.float32: "float32",
    torch.float64: "float64", torch.int8: "int8", torch.int16: "int16", torch.int32: "int32",
    torch.int64: "int64", torch.uint8: "uint8", torch.bool: "bool",
}
_BY_NAME = {v: k for k, v in _DTYPES.items()}


class TorchOps(Ops):
    name = "torch"
    tensor_types = (torch.Tensor,)

    def default_float(self):
        return _DTYPES[torch.get_default_dtype()]

    def asarray(self, x, like=None, dtype=None):
        device, dtype = like.device if isinstance(like, torch.Tensor) else None, _BY_NAME[dtype] if dtype else None
        if TRACING():  # (a trace keeps no plan, cannot ask about inference mode, and shows no array's strides)
            return torch.as_tensor(x, dtype=dtype, device=device)
        if isinstance(x, np.ndarray):
            if not x.dtype.isnative:  # torch takes no other byte order (a big-endian '>f4' read from a file)
                x = x.astype(x.dtype.newbyteorder("="))
            if any(step < 0 for step in x.strides):
                x = np.ascontiguousarray(x)  # torch takes no negative strides (np.flip, a[::-1])
            if not x.flags.writeable:  # torch warns that a write would be undefined: crossloss writes no input
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", "The given NumPy array is not writable")
                    return _as_tensor(x, dtype, device)
        return _as_tensor(x, dtype, device)

    def on_device_of(self, x, like):
        if x.device == like.device:
            return x
        # a 0-d tensor is a number, as torch's ops take it (a meta one has no value to move)
        return x.to(like.device) if x.dim() == 0 and not (x.is_meta and not like.is_meta) else None

    def device_mismatch(self, x, like):
        return None if x.device == like.device else f"a tensor on {x.device}"

    def unfit(self, x):
        if x.layout is not torch.strided:
            return f"a tensor of layout {x.layout}"
        if x.is_nested:
            return "a nested tensor (pad its entries to one shape, and weigh the padding 0 by sample_weight)"
        if isinstance(x, torch.masked.MaskedTensor):  # its mask would be kept on some paths and dropped on others
            return "a torch.masked.MaskedTensor (weigh the entries by its mask through sample_weight instead)"
        return None

    def dtype_name(self, x):
        return _DTYPES.get(x.dtype) or str(x.dtype).removeprefix("torch.")

    def cast(self, x, dtype):
        return x.to(_BY_NAME[dtype])

    def shape(self, x):
        return tuple(x.shape)

    size = staticmethod(torch.numel)  # builtins: no Python frame on every call
    length = staticmethod(torch.Tensor.size)

    def traced_size(self, x):
        # torch.jit.trace records numel() as a number (a replay at another batch size divided by
        # the traced count) but each size as an op: their product follows the replay (of none: 1)
        return math.prod(x.shape) if not _compiling() and _jit_tracing() else x.numel()  # (Dynamo: asked first)
    reshape = staticmethod(torch.reshape)

    def finfo_max(self, dtype):
        return torch.finfo(_BY_NAME[dtype]).max

    # torch reduces every axis over an empty tuple of them (as over None); NumPy and TensorFlow none
    def sum(self, x, axis=None, keepdims=False):
        if axis is None:
            return torch.sum(x)
        return x if axis == () else torch.sum(x, axis, keepdims)  # keywords cost ~1 us cold

    def mean(self, x, axis=None, keepdims=False):
        if axis is None:
            return torch.mean(x)
        return x if axis == () else torch.mean(x, dim=axis, keepdim=keepdims)

    def any(self, x, axis=None):
        if axis is None:
            return torch.any(x)
        return x if axis == () else torch.any(x, dim=axis)

    def where(self, condition, a, b):
        refuse_two_numbers(a, b)
        return torch.where(condition, a, b)

    def maximum(self, x, y):
        if isinstance(x, numbers.Number):  # (clamp takes the tensor first)
            x, y = y, x
        return torch.clamp_min(x, y) if isinstance(y, numbers.Number) else torch.maximum(x, y)

    def minimum(self, x, y):
        if isinstance(x, numbers.Number):
            x, y = y, x
        return torch.clamp_max(x, y) if isinstance(y, numbers.Number) else torch.minimum(x, y)

    abs = staticmethod(torch.abs)
    square = staticmethod(torch.square)
    exp = staticmethod(torch.exp)
    log = staticmethod(torch.log)
    xlogy = staticmethod(torch.xlogy)
    log1p = staticmethod(torch.log1p)
    sigmoid = staticmethod(torch.sigmoid)     # exact at +-inf
    log_sigmoid = staticmethod(F.logsigmoid)  # exact at +-inf: 0 and -inf

    ones_like = staticmethod(torch.ones_like)

    def arange(self, n, like):
        return torch.arange(n, dtype=torch.int64, device=like.device)

    # In-place on the formula's own temporaries unless autograd records them (it may need them).
    def log_(self, t):
        return t.log_() if _free(t) else torch.log(t)

    def abs_(self, t):
        return t.abs_() if _free(t) else torch.abs(t)

    def square_(self, t):
        return t.square_() if _free(t) else torch.square(t)

    def maximum_(self, t, y):
        return t.clamp_min_(y) if _free(t) and isinstance(y, numbers.Number) else self.maximum(t, y)

    def mul_(self, t, y):
        return t.mul_(y) if _free(t) and _fits(t, y) else t * y

    def add_(self, t, y):
        return t.add_(y) if _free(t) and _fits(t, y) else t + y

    def sub_(self, t, y):
        return t.sub_(y) if _free(t) and _fits(t, y) else t - y

    def masked_fill_(self, t, mask, value):
        return t.masked_fill_(mask, value) if _free(t) else t.masked_fill(mask, value)

    def filled_at_or_below_(self, t, threshold, value):  # one pass where the mask and the fill are two
        return torch.threshold_(t, threshold, value) if _free(t) else torch.threshold(t, threshold, value)

    isinf = staticmethod(torch.isinf)
    stop_gradient = staticmethod(torch.Tensor.detach)
    number = staticmethod(torch.Tensor.item)  # float() of a tensor that requires grad warns; item() does not

    def differentiated(self, x):
        return x.requires_grad and torch.is_grad_enabled() or not _plain_eager() or _forward_mode()

    def bce_with_logits_finite(self, targets, logits, pos_weight, neg_weight=None):
        if neg_weight is not None:  # (torch's kernel has no neg_weight)
            return self.bce_with_logits_exact(targets, logits, pos_weight, neg_weight)
        return self.bce_with_logits_as_torch(targets, logits, pos_weight)

    def bce_with_logits_as_torch(self, targets, logits, pos_weight):
        if _no_second_tangent(pos_weight):
            return super().bce_with_logits_as_torch(targets, logits, pos_weight)
        if pos_weight is not None and not isinstance(pos_weight, torch.Tensor):
            pos_weight = logits.new_tensor(pos_weight)
        return F.binary_cross_entropy_with_logits(logits, targets, pos_weight=pos_weight, reduction="none")

    # x / 8 wraps 8 in a new tensor on every call (~2 us on CPU, as long as the division of a
    # small tensor itself): eager CPU calls reuse one scalar tensor per number and dtype.
    def scalar(self, k, like):
        """k as a cached CPU scalar tensor of like's dtype; k itself off CPU, in a trace (which
        reads no cache: dynamo would guard on it, and recompile once an eager call filled it),
        and in a torch.func transform that finds none cached (it keeps the number)."""
        if not like.is_cpu or TRACING():
            return k
        key = (k, math.copysign(1.0, k), like.dtype)
        tensor = _NUMBERS.get(key)
        if tensor is None:
            if not _plain_eager():  # a tensor made in a transform must not be kept
                return k
            if len(_NUMBERS) >= 256:
                _NUMBERS.clear()
            with torch.inference_mode(False):  # an inference tensor could not be saved for backward later
                tensor = _NUMBERS[key] = torch.tensor(k, dtype=like.dtype, device="cpu")  # (not the default device)
        return tensor

    def affine(self, x, a, b):
        offset = self.scalar(b, x)
        if not isinstance(offset, torch.Tensor):
            return super().affine(x, a, b)
        return torch.add(offset, x, alpha=a)  # b + a x in one pass; alpha is not wrapped

    def add_multiple(self, x, y, a):
        return torch.add(x, y, alpha=a)

    def clip(self, x, lo, hi):
        return torch.clamp(x, lo, hi)

    def log_softmax_finite(self, x, axis):
        return torch.log_softmax(x, axis)

    def softmax_finite(self, x, axis):
        return torch.softmax(x, axis)

    def take_along_axis(self, x, index, axis):
        return torch.gather(x, axis, index)

    def gathers_fail_out_of_range(self, like):
        return like.device.type in ("cpu", "cuda", "meta")  # an IndexError, or a device assert (inductor's too)

    def gathers_check_bounds(self, like):
        return like.is_cpu and not TRACING()  # CUDA asserts on the device instead

    def sum_product(self, a, b, axis):
        """sum(a * b) over ``axis``; on eager CPU a large product is summed in slices.

        glibc maps a large temporary afresh from the OS and page-faults it on every call:
        measured on 2 cores, the product and sum take as long as its slices at 16 MB, 1.6x
        at 32 MB and 5x at 80 MB. Slices of 2^20 values are reused heap memory. ``split``'s
        backward is one concatenation (``narrow`` would zero-fill an input-sized gradient
        per slice); forward + backward at 1e7 values is 1.4x faster too.
        """
        if axis == ():
            return a * b
        if not a.is_cpu or TRACING() or a.numel() * a.element_size() <= _LARGE_TEMPORARY:
            return torch.sum(a * b, dim=axis)
        along = max(axis, key=lambda i: a.shape[i])
        step = max(1, _SLICE * a.shape[along] // a.numel())
        total = None
        for part_a, part_b in zip(a.split(step, along), b.split(step, along)):
            part = torch.sum(part_a * part_b, dim=axis)
            total = part if total is None else total + part
        return total

    def sum_over(self, x, axis):
        return x if axis == () else torch.sum(x, dim=axis)  # torch's sums are cascaded: a few ulps in any layout

    def segment_sum(self, values, ids, num_segments, most=None):
        # (a trace's sizes may be symbolic: comparing one would guard on it)
        size = None if TRACING() else (values.numel() if most is None else most)
        wide = self.sums_wide(self.dtype_name(values), size) and values.device.type != "mps"  # (MPS has no float64)
        if _spreads(values):
            return _spread_segment_sum(values, ids, num_segments, torch.float64 if wide else values.dtype)
        if not wide:
            return values.new_zeros(num_segments).index_add(0, ids, values)
        return values.new_zeros(num_segments, dtype=torch.float64).index_add(0, ids, values.double()).float()

    def segment_count(self, ids, num_segments, like, most=None):
        """bincount on eager CPU from 4096 ids: exact integer counts, no arrays of ones, 2-2.7x
        faster than a float64 segment sum from 4096 to 2.6e5 ids (below that its fixed cost
        exceeds the sum's). Elsewhere it would size its output from the ids' maximum: a device
        sync, or in a trace a shape that depends on data."""
        if ids.is_cpu and _plain_eager() and ids.numel() >= _BINCOUNT_FROM:
            return torch.bincount(ids, minlength=num_segments).to(like.dtype)
        if _spreads(ids):  # int32 ones, not a float64 array
            return _spread_segment_sum(None, ids, num_segments, torch.int32).to(like.dtype)
        return super().segment_count(ids, num_segments, like, most)

    def signature(self, y_true, y_pred):
        # None in a trace (a plan's tensors, class weights, must not be kept from there), and for
        # tensors that a plan of their shape would take but unfit refuses (a nested one has no shape)
        if not _plain_eager() or self.unfit(y_true) is not None or self.unfit(y_pred) is not None:
            return None
        return (y_true.shape, y_true.dtype, y_true.device, y_true.layout, y_pred.shape, y_pred.dtype, y_pred.device,
                y_pred.layout)

    def matcher(self, y_true, y_pred):
        if y_true.device != y_pred.device or type(y_true) is not torch.Tensor or type(y_pred) is not torch.Tensor:
            return None
        true_shape, true_dtype, pred_shape, pred_dtype, device = (y_true.shape, y_true.dtype, y_pred.shape,
                                                                  y_pred.dtype, y_pred.device)
        cpu, tensor, strided = device.type == "cpu", torch.Tensor, torch.strided

        def matches(y_true, y_pred):  # (never asked in a trace: TRACING)
            return (type(y_pred) is tensor and type(y_true) is tensor  # (_readable's frame only in a transform)
                    and (_transform_level() is None or _readable(y_true, y_pred))
                    and not (y_pred.is_nested or y_true.is_nested)  # (a nested tensor's shape raises)
                    and y_pred.shape == pred_shape and y_true.shape == true_shape and y_pred.dtype is pred_dtype
                    and y_true.dtype is true_dtype and (y_pred.is_cpu and y_true.is_cpu if cpu else  # (cheaper)
                                                        y_pred.device == device and y_true.device == device)
                    and y_pred.layout is strided and y_true.layout is strided)
        return matches

    def readable(self, y_true, y_pred):
        return not TRACING() and _readable(y_true, y_pred)  # (a trace cannot ask about transforms: asked first)

    def range_reader(self, like, force=False, nonnegative=False, minimum=True):  # (aminmax: both in one pass)
        if not (like.is_cpu or force and not like.is_meta) or not like.numel() or TRACING():
            return None
        if like.dtype is torch.bool:  # (a reader reads like's dtype)
            return _bool_range
        if nonnegative and like.dtype in _BIT_PATTERNS and like.numel() >= _BIT_PATTERNS_FROM:
            return _nonnegative_range
        return _value_range

    def min_reader(self, like, force=False):
        if self.range_reader(like, force) is not _value_range:
            return super().min_reader(like, force)
        return _unsigned_min if like.dtype in _WIDE_UNSIGNED else _min_value


def _as_tensor(x, dtype, device):
    # a plan keeps its weights: an inference tensor could not be saved for backward later
    if torch.is_inference_mode_enabled():
        with torch.inference_mode(False):
            return torch.as_tensor(x, dtype=dtype, device=device)
    return torch.as_tensor(x, dtype=dtype, device=device)


def _bool_range(x):
    return _value_range(x.to(torch.uint8))  # aminmax has no bool kernel


def _value_range(x):
    if x.dtype is torch.uint64:
        return _uint64_range(_in_memory_order(x).view(torch.int64))
    if x.dtype in _WIDE_UNSIGNED:  # aminmax has no kernel for these: int64 holds uint16/32
        x = x.to(torch.int64)
    lo, hi = torch.aminmax(_in_memory_order(x))
    return lo.item(), hi.item()


def _uint64_range(signed):
    """uint64 values' exact range (an error shows it; through float64 it was rounded to 6
    digits) from their patterns as int64, where those from 2^63 read negative."""
    lo, hi = (bound.item() for bound in torch.aminmax(signed))
    if lo >= 0:
        return lo, hi
    top = torch.where(signed < 0, signed, lo).max().item() + 2 ** 64  # the largest from 2^63
    if hi < 0:  # every one from 2^63
        return lo + 2 ** 64, top
    return torch.where(signed >= 0, signed, hi).min().item(), top


def _in_memory_order(x):
    """x detached, its dimensions permuted into memory order: a one-hot moved to axis 1 reduces
    ~8x faster so."""
    if not x.is_contiguous():
        strides = x.stride()
        x = x.permute(sorted(range(x.dim()), key=lambda i: -strides[i]))
    return x.detach() if x.requires_grad else x


def _nonnegative_range(x):
    """_value_range of values that should be >= 0, read as their bit patterns: those of
    floats >= 0 are integers in the floats' order, and torch's aminmax is 1.5-1.7x faster on
    int32 than on float32 (1e5-1e6 values here; on int16 1.6x at 1e5, 3.5x at 1e6). A sign bit
    (a negative value, -0.0, a NaN with its sign set) reads the floats again, as does a dtype
    without patterns here (targets are read after their cast to y_pred's float64) and a view
    with torch's negative bit set (which refuses .view(int))."""
    patterns = _BIT_PATTERNS.get(x.dtype)
    if patterns is None or x.is_neg():
        return _value_range(x)
    bits, as_float, inf = patterns
    lo, hi = torch.aminmax(_in_memory_order(x).view(bits))
    lo, hi = lo.item(), hi.item()
    if lo < 0:
        return _value_range(x)
    if hi > inf:  # a NaN: the range aminmax gives for floats
        return math.nan, math.nan
    return as_float(lo), as_float(hi)


def _from_bits(integer, real, shift=0):
    """The float whose bit pattern is an integer (packed as ``integer``, shifted left by
    ``shift`` bits, unpacked as ``real``; struct formats)."""
    pack, unpack = struct.Struct(integer).pack, struct.Struct(real).unpack
    return lambda bits: unpack(pack(bits << shift))[0]


# dtype -> (the integers of its width, bit pattern -> float, +inf's pattern). Not float64: on
# int64 aminmax is slower. Below 2^14 values the pattern's path costs more than it saves.
_BIT_PATTERNS = {
    torch.float32: (torch.int32, _from_bits("<i", "<f"), 0x7F800000),
    torch.float16: (torch.int16, _from_bits("<h", "<e"), 0x7C00),
    torch.bfloat16: (torch.int16, _from_bits("<i", "<f", 16), 0x7F80),  # float32's upper half
}
_BIT_PATTERNS_FROM = 1 << 14


def _unsigned_min(x):
    return 0  # a lower bound, exact for the check "no negative label" (torch has no min of these dtypes)


_WIDE_UNSIGNED = (torch.uint16, torch.uint32, torch.uint64)


def _min_value(x):
    return torch.min(x.detach() if x.requires_grad else x).item()  # one .item(): ~0.2x of a 1e3 CE


_NO_LABEL = -(1 << 63)  # cross_entropy's ignore_index where the loss has none (int64 labels are read)
_SLOPE_EXACT = 2e-12  # p (1 - p) > 1e-12 for p in [2e-12, 1 - 2e-12]: binary_cross_entropy's backward is exact
_LARGE_TEMPORARY = 1 << 24  # bytes of a product above which sum_product slices it
_BINCOUNT_FROM = 1 << 12  # ids from which segment_count's bincount is the faster (eager CPU)
_SLICE = 1 << 20  # values per slice of a large product

_NUMBERS: dict = {}  # (number, its sign, dtype) -> a CPU scalar tensor of it (0.0 == -0.0 as keys)


def _spreads(x) -> bool:
    """A segment sum over ``x`` spreads its segments (CUDA: eager from _SPREAD_FROM values, and
    in every graph, whose size is unknown and whose index_add inductor makes atomic too)."""
    return x.is_cuda and (TRACING() or x.numel() >= _SPREAD_FROM)


def _spread_segment_sum(values, ids, num_segments, dtype):
    """segment_sum on CUDA, where index_add adds with atomics (inductor's too): with few
    segments (Dice's samples x classes) each add waits for the one before at the same
    address. Each segment gets ``lanes`` slots, value i going to slot i % lanes, and the
    slots are summed after. About 2^15 slots in all (on an H100, 5e6 values into 8 segments:
    3.6 ms with 1 lane, 164 us with 256, 67 us with 4096). ``values`` None counts the ids
    (ones of ``dtype``, never an array of them).

    Eager, the ids viewed as (size / lanes, lanes) scatter into a (segments, lanes) array
    (no array of slots: half the memory, and 4 launches fewer, 15-55% less host time on an
    H100); a tail of fewer than ``lanes`` values goes to lane 0."""
    size = ids.numel()

    def source(start, stop):
        return ids.new_ones((), dtype=dtype).expand(stop - start) if values is None else values[start:stop].to(dtype)
    # In a trace sizes may be symbolic: no Python branch on them (Dynamo would guard on each, a
    # graph per batch size). One guard is left, lanes != 1: a second graph past 2^14 segments.
    if TRACING():
        # (torch 2.11's Dynamo refuses a torch.sym_* call on plain ints: it returns no tensor)
        least, most = (torch.sym_min, torch.sym_max) if isinstance(num_segments, torch.SymInt) else (min, max)
        lanes = least(_MOST_LANES, most(1, _SLOTS // most(num_segments, 1)))
        slots = ids * lanes + torch.arange(size, device=ids.device) % lanes  # (one fused kernel)
        out = ids.new_zeros(num_segments * lanes, dtype=dtype).index_add(0, slots, source(0, size))
        out = out.view(num_segments, lanes).sum(1, dtype=dtype)
    else:
        lanes = min(_MOST_LANES, 1 << max(0, (_SLOTS // max(num_segments, 1)).bit_length() - 1))
        rows = size // lanes
        whole = rows * lanes
        # (in place in plain eager only: under vmap the values may be batched where the ids are not)
        scatter_add = torch.Tensor.scatter_add_ if _plain_eager() else torch.Tensor.scatter_add
        out = ids.new_zeros((num_segments, lanes), dtype=dtype)
        out = scatter_add(out, 0, ids[:whole].reshape(rows, lanes), source(0, whole).reshape(rows, lanes))
        if whole < size:
            out = scatter_add(out, 0, ids[whole:].reshape(-1, 1), source(whole, size).reshape(-1, 1))
        out = out.sum(1, dtype=dtype)
    return out if values is None else out.to(values.dtype)


_SLOTS, _MOST_LANES = 1 << 15, 1 << 12  # slots of a CUDA segment sum in all, and per segment
_SPREAD_FROM = 1 << 16  # values from which a CUDA segment sum spreads (below: one launch fewer matters more)


def _smallest_positive(t) -> float:
    return torch.amin(t.masked_fill(t <= 0, 1.0)).item() if t.numel() else 1.0


def _forward_mode() -> bool:
    """Forward-mode AD is on (torch.func.jvp, jacfwd, forward_ad.dual_level): its derivatives
    take no requires_grad, so a kernel whose derivative is inexact must not run."""
    return _forward_ad._current_level >= 0  # (private: the level dual_level() enters)


def _no_second_tangent(pos_weight) -> bool:
    """torch's binary_cross_entropy_with_logits without a pos_weight has no forward derivative
    of its forward derivative (torch 2.13: jacfwd(jacfwd(...)) raises "ZeroTensors are
    immutable"): in forward mode the formula runs."""
    return pos_weight is None and _forward_mode()


def _plain_eager() -> bool:
    """Eager, outside every torch.func transform. What is made there may be kept for later
    calls: a trace's tensors are graph-local, and a transform's are wrapped at its level (a
    later transform that met one failed torch's internal assert). And a temporary may be
    overwritten there: a transform's wrappers record what requires_grad does not show (vmap
    of grad, jacfwd of jacrev, nested vmaps with an input batched at one level only), and a
    trace's compiler plans memory itself. A trace cannot ask about transforms: asked first."""
    return not TRACING() and _transform_level() is None


def _free(t) -> bool:
    """t may be overwritten: autograd records nothing about it, in plain eager code."""
    return not (t.requires_grad and torch.is_grad_enabled()) and _plain_eager()


def _fits(t, y) -> bool:
    """t op= y keeps t's shape and dtype and leaves autograd out of it."""
    if not isinstance(y, torch.Tensor):
        return True
    if y.dtype != t.dtype or y.requires_grad and torch.is_grad_enabled():
        return False
    # y broadcasts into t's shape (torch.broadcast_shapes would cost ~20 us per call); equal
    # shapes, the common case, skip the generator: at 1e3 values it costs as much as the op
    t_shape, y_shape = t.shape, y.shape
    return t_shape == y_shape or len(y_shape) <= len(t_shape) and all(
        b == 1 or a == b for a, b in zip(t_shape[len(t_shape) - len(y_shape):], y_shape))


_transform_level = torch._C._functorch.maybe_current_level  # None outside torch.func transforms
_wrapped, _batched_here, _unwrapped = (torch._C._functorch.is_functorch_wrapped_tensor,
                                       torch._C._functorch.is_batchedtensor, torch._C._functorch.get_unwrapped)


def _readable(y_true, y_pred) -> bool:
    """Values of a call on these inputs may be read back: no input is batched by torch.func.vmap,
    whose tensors torch refuses to read (.item()), the loss made of them too. Inputs that vmap
    leaves unbatched are read: jacfwd's and hessian's (vmap batches only their tangents), or
    tensors a vmapped function closes over."""
    return _transform_level() is None or not (_batched(y_true) or _batched(y_pred))


def _batched(x) -> bool:
    """x is batched by vmap at some level (under grad's or jvp's wrappers too)."""
    while _wrapped(x):
        if _batched_here(x):
            return True
        x = _unwrapped(x)
    return False


OPS = TorchOps()
# (is_dynamo_compiling: one Python frame, where is_compiling asks is_scripting too; Dynamo folds
# either to True. torch before 2.3 has only is_compiling. Non-strict export runs fake tensors.)
_compiling = getattr(torch.compiler, "is_dynamo_compiling", torch.compiler.is_compiling)
_jit_tracing, _mode = torch._C._is_tracing, torch._C._get_dispatch_mode
_modes = torch._C._len_torch_dispatch_stack
_FAKE, _PROXY = torch._C._TorchDispatchModeKey.FAKE, torch._C._TorchDispatchModeKey.PROXY


def TRACING() -> bool:
    """Inside a trace (crossloss.backends.tracing): torch.compile and export (dynamo guards on
    what a trace reads), torch.jit.trace (it would replay the path one input's values chose),
    make_fx and fake tensors (their dispatch modes: a fake tensor has no value to read). A
    user's dispatch mode (FlopCounterMode) runs real tensors: eager, checks and all."""
    return _compiling() or _jit_tracing() or _modes() > 0 and (_mode(_FAKE) is not None or _mode(_PROXY) is not None)

# torch.nn.functional's wrappers spend ~6 us per call broadcasting and warning about shapes
# that crossloss has already checked equal; the kernels behind them are called directly.
_NN = torch._C._nn
_MEAN, _SUM, _NONE = 1, 2, 0
_ENUM = {"none": _NONE, "mean": _MEAN, "sum": _SUM}


def _transformed() -> bool:
    """Forward mode, or (eagerly: a trace cannot ask) a torch.func transform, where torch's
    regression kernels fail (torch 2.13): mse_loss's mean and huber_loss_backward have no
    forward derivative, so jvp(grad(loss)), the Hessian-vector product, raises; and in nested
    vmaps with an input batched at one level only, mse_loss, huber_loss and smooth_l1_loss
    raise a size mismatch. The formula works in both."""
    # (dynamo first: it cannot trace the level's query; the rest of TRACING only within a transform)
    return _forward_mode() or not _compiling() and _transform_level() is not None and not TRACING()


def _mse(call, reduction, y_pred):
    return lambda c, y_true, y_pred: None if _transformed() else _NN.mse_loss(y_pred, y_true, reduction)


def _mae(call, reduction, y_pred):
    return lambda c, y_true, y_pred: _NN.l1_loss(y_pred, y_true, reduction)


def _huber(call, reduction, y_pred):
    delta = OPS.representable(call.delta, call.dtype)  # torch would take a float32 1e39 as inf: inf * 0
    return lambda c, y_true, y_pred: None if _transformed() else _NN.huber_loss(y_pred, y_true, reduction, delta)


def _smooth_l1(call, reduction, y_pred):
    if call.beta == 0:  # L1 itself; smooth_l1_loss's slope at e = 0 would be -1, l1_loss's is 0
        return _mae(call, reduction, y_pred)
    beta, finfo = call.beta, torch.finfo(_BY_NAME[call.dtype])
    if not finfo.tiny <= beta * beta <= finfo.max:  # its 0.5 e^2 / beta over- or underflows where the result does not
        return None
    return lambda c, y_true, y_pred: None if _transformed() else _NN.smooth_l1_loss(y_pred, y_true, reduction, beta)


def _bce(call, reduction, y_pred):
    # torch has no separate negative weight; on probabilities its kernel clamps each log at
    # -100 like the spec.
    if call.neg_weight is not None or (call.pos_weight is not None and not call.from_logits):
        return None
    if not call.from_logits:
        def on_probabilities(c, y_true, y_pred):
            # its backward divides by max(p (1 - p), 1e-12): the slope is wrong for p within
            # 1e-12 of 0 or 1 (sigmoid(-30): -0.094 for -1), so a gradient needs p read; the
            # targets' is logit(p), unfloored (inf at p = 0), so theirs needs it read too. A trace
            # reads nothing, and may not show a gradient wanted (compile of vmap of grad)
            wanted = (y_pred.requires_grad or y_true.requires_grad) and torch.is_grad_enabled()
            if wanted or _forward_mode() or TRACING():
                found = c.check_probabilities(y_pred)
                if found is None or not (_SLOPE_EXACT <= found[0] and found[1] <= 1.0 - _SLOPE_EXACT):
                    return None
            if y_pred.is_cuda and torch.is_autocast_enabled("cuda"):
                return None  # torch refuses its own kernel under CUDA autocast ("unsafe to autocast")
            return _NN.binary_cross_entropy(y_pred, smoothed_binary_targets(c, y_true), None, reduction)
        on_probabilities.covers_pred = y_pred.is_cpu  # the CPU kernel raises outside [0, 1]; CUDA's asserts
        return on_probabilities
    pos_weight = call.pos_weight

    def with_logits(c, y_true, y_pred):
        if _no_second_tangent(pos_weight):
            return None
        return torch.binary_cross_entropy_with_logits(y_pred, smoothed_binary_targets(c, y_true), None, pos_weight,
                                                      reduction)
    return on_finite_logits(with_logits, reduction != _NONE)


def _cross_entropy(call, reduction, y_pred):
    """torch's fused log-softmax + NLL (class axis 1): one pass fewer than the guarded log-softmax.
    It skips the label equal to its ignore_index, which cannot be turned off: without the
    loss's it is given the least int64, which no narrower label dtype holds once cast, so
    only int64 labels need a read, of their minimum (``contract.value_checker``). Where int64
    labels go unread (CUDA, value_checks="never") it does not run: the formula's gathers
    refuse every label out of range, -2**63 too."""
    weight = call.class_weight
    if not call.from_logits or call.axis != 1 or weight is not None and weight.numel() == 1:
        return None  # one weight for every class: the generic formula
    ignore = getattr(call, "ignore_index", None)
    smoothing = call.label_smoothing
    # torch's mean is NaN where no label is left (or every one left weighs 0); without
    # ignore_index the kernel's result is read in place of the logits (on_finite_logits
    # below), which shows it
    mean_of_kept = ignore is not None and reduction == _MEAN
    # smoothing labels, torch adds a row's K log-probabilities before it scales them by e / K
    # (the formula scales first): the sum overflows for logits beyond about finfo.max / 4K
    smooths_labels = smoothing and call.labels
    skipped = _NO_LABEL if ignore is None else ignore

    def cross_entropy(c, y_true, y_pred):
        if smooths_labels and c.pred_range is not None and \
                4 * y_pred.shape[1] * max(-c.pred_range[0], c.pred_range[1]) > OPS.finfo_max(c.dtype):
            return None
        loss = _NN.cross_entropy_loss(y_pred, y_true, weight, reduction, skipped, smoothing)
        if mean_of_kept and not math.isfinite(loss.item()):
            return None  # torch's 0 / 0, the spec's 0 (the logits are finite: nothing else makes a NaN)
        return loss
    # On the CPU it raises on every label out of range but the one it skips (CUDA's asserts)
    cross_entropy.skipped_label = skipped if y_pred.is_cpu else None
    # unreduced, a value per label: a sample_weight may weigh them where none is left out of the mean
    cross_entropy.counts_every_entry = ignore is None and weight is None
    # An ignored row's infinite logit leaves the loss finite but makes its gradient NaN: with
    # ignore_index the logits are read.
    return on_finite_logits(cross_entropy, reduction != _NONE and ignore is None)


def _kl_divergence(call, reduction, y_pred):
    """torch's kl_div, p log p - p log q pointwise (xlogy: 0 at p = 0), on log q from the op
    table. Its p log p is not floored, so it runs where the checks found every p >= 1.2e-38:
    there the spec's floor cannot act, on the value or on the gradient in p. Targets with
    zeros (one-hot, top-k teachers: the formula took 2-3x kl_div's time) take it too where no
    slope in p is taken and no p is in (0, 1.2e-38), one read more: at p = 0 both give 0."""
    axis = call.axis
    rows = y_pred.numel() // y_pred.shape[axis]

    def kl_div(c, y_true, y_pred):
        if c.true_range is None:
            return None
        if c.true_range[0] < ABOVE_FLOOR and (c.true_range[0] != 0 or OPS.differentiated(y_true)
                                              or _smallest_positive(y_true) < ABOVE_FLOOR):
            return None
        log_q = torch.log_softmax(y_pred, axis) if c.from_logits else OPS.floored_log(y_pred, c.pred_range)
        if reduction == _NONE:
            return torch.sum(torch.kl_div(log_q, y_true, _NONE), axis)
        total = torch.kl_div(log_q, y_true, _SUM)
        return OPS.div(total, rows) if reduction == _MEAN else total
    return on_finite_logits(kl_div, reduction != _NONE) if call.from_logits else kl_div


def _fused(choose):
    """``choose(call, torch's reduction code, y_pred)``; torch's fused 'mean' of zero elements
    is NaN, the spec's is 0 (the generic path)."""
    def chosen(call, reduction, y_pred):
        if reduction not in _ENUM or not y_pred.numel():
            return None
        return choose(call, _ENUM[reduction], y_pred)
    return chosen


# Fused kernels whose values equal the spec's formula everywhere (the tests compare both).
NATIVE = {name: _fused(choose) for name, choose in {
    "mean_squared_error": _mse,
    "mean_absolute_error": _mae,
    "huber": _huber,
    "smooth_l1": _smooth_l1,
    "binary_crossentropy": _bce,
    "categorical_crossentropy": _cross_entropy,
    "sparse_categorical_crossentropy": _cross_entropy,
    "kl_divergence": _kl_divergence,
}.items()}
