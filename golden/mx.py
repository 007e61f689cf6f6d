"""Block-scaled FP4: MXFP4 (OCP Microscaling v1.0) and NVFP4 (docs/numerics.md §10).

A tensor is cut along one axis into blocks of ``block_size`` consecutive elements (32 for
MXFP4, 16 for NVFP4; the axis length must be a multiple, nothing is padded). Each block has one
8-bit scale; each element is an E2M1 code (golden.fp4). The quantizers return the codes (uint8,
the input's shape) and the scales (uint8, the input's shape with the blocked axis divided by
``block_size``), in the same axis order; NVFP4 adds its FP32 per-tensor scale. The
dequantizers return float64, which holds every MXFP4 and NVFP4 value exactly.

Inputs are FP32 (float16 is taken exactly, float64 rounded once to float32 first). A block that
holds NaN or +-Inf gets the NaN scale and all-zero element codes, and dequantizes to NaN.
Stochastic rounding applies to the elements only (scales are chosen deterministically) and
draws once per element of the input in C order, whatever the element or its block is.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from golden.checks import check_block_axis, check_codes, check_float32, check_rounding
from golden.fp4 import (E2M1_MAX, E2M1_VALUES, E4M3_MAGNITUDES, E4M3_MAX, E4M3_NAN, E8M0_BIAS,
                        E8M0_NAN, ROUNDINGS, e2m1_decode, e2m1_round, e4m3_decode, e8m0_decode,
                        round_to_grid, stochastic_draws)

#: OCP MX v1.0: k = 32 elements per block; emax of E2M1 (its largest binade, 4..6, is 2^2).
MXFP4_BLOCK = 32
E2M1_EMAX = 2
#: NVFP4: 16 elements per block.
NVFP4_BLOCK = 16
#: Least positive FP32 (subnormal), the floor of the NVFP4 per-tensor scale.
FP32_TINY = 2.0 ** -149


class MxTensor(NamedTuple):
    """An MXFP4 tensor: E2M1 element codes and one E8M0 scale code per block."""

    codes: np.ndarray      # uint8, the input's shape
    scales: np.ndarray     # uint8, the blocked axis divided by the block size


class NvTensor(NamedTuple):
    """An NVFP4 tensor: E2M1 element codes, E4M3 block scales and the FP32 tensor scale."""

    codes: np.ndarray          # uint8, the input's shape
    scales: np.ndarray         # uint8, the blocked axis divided by the block size
    tensor_scale: np.float32   # S = amax / (6 * 448), as FP32


def _blocks(v: np.ndarray, axis: int, block_size: int) -> np.ndarray:
    """View of ``v`` as (..., blocks, block_size) with the blocked axis moved last."""
    moved = np.moveaxis(v, axis, -1)
    return moved.reshape(moved.shape[:-1] + (moved.shape[-1] // block_size, block_size))


def _unblocks(b: np.ndarray, axis: int) -> np.ndarray:
    """Inverse of :func:`_blocks`."""
    return np.moveaxis(b.reshape(b.shape[:-2] + (-1,)), -1, axis)


def _quantize_blocks(x, axis, block_size, rounding, seed):
    """Checked FP32 input as blocks, its draws as blocks (or None), the finite-block mask and
    each block's amax (0 for a non-finite block)."""
    seed = check_rounding(rounding, seed, ROUNDINGS)
    v = check_float32(x)
    axis, block_size = check_block_axis(v.shape, axis, block_size)
    return _blocked(v, axis, block_size, rounding, seed)


def _blocked(v, axis, block_size, rounding, seed):
    """:func:`_quantize_blocks` after its checks, for FP32 values ``v`` held as float64 or as
    float32 (the blocks keep the dtype; amax is float64)."""
    draws = stochastic_draws(rounding, seed, v.shape)
    blocks = _blocks(v, axis, block_size)
    with np.errstate(invalid="ignore"):                     # float32 signalling NaNs are data
        amax = np.abs(blocks).max(axis=-1).astype(np.float64)   # NaN or Inf: non-finite
    finite = np.isfinite(amax)
    amax[~finite] = 0
    return (axis, blocks, None if draws is None else _blocks(draws, axis, block_size),
            finite, amax)


def mxfp4_quantize(x, *, axis=-1, block_size=MXFP4_BLOCK, rounding="nearest", seed=None):
    """Quantize to MXFP4: per block, X = 2^(floor(log2 amax) - 2), elements E2M1(v / X).

    The shared exponent floor(log2 amax) - 2 is clamped below at -127 (E8M0's least value), so
    an all-zero block, or any block with amax < 2^-125, gets scale code 0x00 (2^-127). FP32
    inputs keep it <= 125, so it never overflows E8M0. Elements round as
    golden.fp4.e2m1_quantize does (``rounding``, ``seed``), saturating at +-6 X: values in
    (6 X, 8 X) exist whenever amax's significand exceeds 1.5. A block with NaN or +-Inf gets
    scale 0xFF (NaN) and codes 0.

    Returns :class:`MxTensor`. ValueError for a bad axis or block size, a block size that does
    not divide the axis, a bad rounding name or seed; TypeError for a non-float input.
    """
    axis, blocks, draws, finite, amax = _quantize_blocks(x, axis, block_size, rounding, seed)
    shared, unit = _mx_scales(amax)
    codes = e2m1_round(blocks, unit, rounding, draws)
    codes = np.where(finite[..., None], codes, 0).astype(np.uint8)
    scales = np.where(finite, shared + E8M0_BIAS, E8M0_NAN).astype(np.uint8)
    return MxTensor(_unblocks(codes, axis), np.moveaxis(scales, -1, axis))


def _mx_scales(amax):
    """Shared exponents (int) of MXFP4 blocks with ``amax`` and their units 2^shared (float64,
    a trailing axis of 1 added to broadcast over the block)."""
    _, exp = np.frexp(amax)                          # amax = f * 2^exp, 0.5 <= f < 1
    shared = np.where(amax > 0, np.maximum(exp - 1 - E2M1_EMAX, -E8M0_BIAS), -E8M0_BIAS)
    return shared, np.ldexp(1.0, shared)[..., None]


def mxfp4_dequantize(codes, scales, *, axis=-1, block_size=MXFP4_BLOCK) -> np.ndarray:
    """MXFP4 codes and E8M0 scales -> float64 values code * 2^(scale - 127), exactly; every
    element of a block with scale 0xFF is NaN."""
    return _dequantize(codes, scales, axis, block_size, e8m0_decode)


def nvfp4_tensor_scale(v: np.ndarray) -> np.float32:
    """The NVFP4 per-tensor scale S = amax / (6 * 448) as FP32 (one IEEE float32 division,
    RNE), amax over the finite elements of the checked FP32 values ``v``; S is raised to the
    least positive FP32, 2^-149, where it would be zero (all-zero or tiny tensors)."""
    finite = np.isfinite(v)
    amax = np.float32(np.abs(np.where(finite, v, 0)).max()) if v.size else np.float32(0)
    with np.errstate(under="ignore"):
        s = amax / np.float32(E2M1_MAX * E4M3_MAX)
    return np.float32(max(s, np.float32(FP32_TINY)))


def nvfp4_quantize(x, *, axis=-1, block_size=NVFP4_BLOCK, rounding="nearest", seed=None):
    """Quantize to NVFP4: tensor scale S, block scales E4M3(amax_block / (6 S)), elements
    E2M1(v / (s_block * S)).

    S is :func:`nvfp4_tensor_scale`. Each block scale is the exact quotient amax_block / (6 S)
    rounded once to E4M3 (nearest even), saturating at 448. Each element is the exact quotient
    v / (s_block * S) rounded once to E2M1 (``rounding``, ``seed`` as golden.fp4.e2m1_quantize),
    saturating at +-6; a block scale that rounded to 0 makes the quotients 0 (codes 0 / 8 by
    v's sign). A block with NaN or +-Inf gets scale 0x7F (NaN) and codes 0; the finite
    elements alone set S.

    Returns :class:`NvTensor`. Errors as :func:`mxfp4_quantize`.
    """
    axis, blocks, draws, finite, amax = _quantize_blocks(x, axis, block_size, rounding, seed)
    s, scale_codes, unit = _nv_scales(blocks, finite, amax)
    codes = e2m1_round(blocks, unit, rounding, draws)
    codes = np.where(finite[..., None], codes, 0).astype(np.uint8)
    scales = np.where(finite, scale_codes, E4M3_NAN).astype(np.uint8)
    return NvTensor(_unblocks(codes, axis), np.moveaxis(scales, -1, axis), s)


def _nv_scales(blocks, finite, amax):
    """Tensor scale S, E4M3 block scale codes and units s_block * S (float64, a trailing axis of
    1 added) of NVFP4 ``blocks`` with ``finite`` mask and ``amax``. With every block finite the
    tensor's amax is the largest block amax, so S needs no second pass over the elements."""
    s = nvfp4_tensor_scale(amax if finite.all() else blocks)
    scale_codes = round_to_grid(amax, 6 * np.float64(s), E4M3_MAGNITUDES)
    return s, scale_codes, (E4M3_MAGNITUDES[scale_codes] * np.float64(s))[..., None]


def nvfp4_dequantize(codes, scales, tensor_scale, *, axis=-1,
                     block_size=NVFP4_BLOCK) -> np.ndarray:
    """NVFP4 codes, E4M3 scales and the FP32 tensor scale -> float64 values code * s * S,
    exactly; every element of a block with a NaN scale is NaN."""
    s = np.asarray(tensor_scale)
    if s.dtype != np.float32 or s.ndim or not np.isfinite(s) or s <= 0:
        raise ValueError(f"tensor_scale must be a positive finite numpy.float32, not "
                         f"{tensor_scale!r}")
    return _dequantize(codes, scales, axis, block_size, e4m3_decode) * np.float64(s)


def _dequantize(codes, scales, axis, block_size, scale_decode):
    c = check_codes(codes)
    axis, block_size = check_block_axis(c.shape, axis, block_size)
    want = c.shape[:axis] + (c.shape[axis] // block_size,) + c.shape[axis + 1:]
    if np.shape(scales) != want:
        raise ValueError(f"scales must have shape {want} for codes of shape {c.shape} in "
                         f"blocks of {block_size} along axis {axis}, not {np.shape(scales)}")
    scale = np.moveaxis(scale_decode(scales), axis, -1)[..., None]
    return _unblocks(e2m1_decode(_blocks(c, axis, block_size)) * scale, axis)


#: Elements per chunk of :func:`quantize_values`: its float64 temporaries stay in cache.
_CHUNK = 1 << 15


def quantize_values(x, fmt: str, axis: int, rounding: str, seed):
    """Codes, dequantized values and counts of the float32 array ``x`` in ``fmt`` ("mxfp4" or
    "nvfp4", default block size; arguments unchecked: nn.blockfp.block_quantize checks them),
    bit for bit:

    - codes: those of :func:`mxfp4_quantize` / :func:`nvfp4_quantize` with the same arguments;
    - values: ``mxfp4_dequantize(...)`` / ``nvfp4_dequantize(...)`` of them cast to float32, with
      the same strides;
    - saturated: how many elements have code magnitude 6 (codes 7, 15) and |x| > |value|;
    - underflow: how many elements have value 0 and x != 0.

    One pass instead of the round trip, chunk by chunk so that the float64 temporaries stay in
    cache: each value is the element's E2M1 value times its block's unit (2^shared, or
    s_block * S), the exact float64 product the dequantizers form, rounded once to FP32;
    non-finite blocks are NaN. verif/golden/test_blockfp.py checks it against the round trip.
    """
    block_size = MXFP4_BLOCK if fmt == "mxfp4" else NVFP4_BLOCK
    if x.dtype != np.float32:
        raise TypeError(f"x must be float32, not {x.dtype}")
    axis, blocks, draws, finite, amax = _blocked(x, axis % x.ndim, block_size, rounding, seed)
    unit = _mx_scales(amax)[1] if fmt == "mxfp4" else _nv_scales(blocks, finite, amax)[2]
    codes = np.empty(blocks.shape, np.uint8)
    values = np.empty(blocks.shape, np.float32)
    b, c, val = (a.reshape(-1, block_size) for a in (blocks, codes, values))
    u, fin = unit.reshape(-1, 1), finite.reshape(-1)
    d = None if draws is None else draws.reshape(-1, block_size)
    step = max(1, _CHUNK // block_size)
    saturated = underflow = 0
    for k in range(0, b.shape[0], step):
        rs = slice(k, k + step)
        cr, vr, xr = c[rs], val[rs], b[rs]
        cr[...] = e2m1_round(xr, u[rs], rounding, None if d is None else d[rs])
        vr[...] = E2M1_VALUES[cr] * u[rs]
        if not fin[rs].all():
            cr[~fin[rs]] = 0
            vr[~fin[rs]] = np.nan
        top = (cr & 7) == 7
        saturated += int(np.count_nonzero(np.abs(xr[top]) > np.abs(vr[top])))
        underflow += int(np.count_nonzero((vr == 0) & (xr != 0)))
    return _unblocks(codes, axis), _unblocks(values, axis), saturated, underflow
