"""The bit-exact integer GEMM and accumulator read-out of docs/numerics.md section 6.

``gemm`` returns what the systolic array drains after a tile: exact sums of INT x INT or
INT x R4 products, accumulated in K order in a signed ``acc_width``-bit register with sticky
saturation (the first partial sum that leaves the range decides the rail, and a sticky overflow
flag is set) instead of wrapping. ``readout`` is the accumulator -> FP16 converter. Both are
vectorised; the sequential saturating walk over K runs only for outputs whose worst-case
partial sum could leave the register.

Overflow is never silent. ``gemm(..., flags=True)`` returns the per-output sticky overflow
flags next to the accumulators; without ``flags``, a saturated result issues a
:class:`SaturationWarning` (so do ``readout`` and ``gemm_fp16``). ``gemm(..., strict=True)``
(or :func:`check_k_bound` before a call) refuses any K beyond :func:`max_safe_k` with
:class:`AccumulatorBoundError`, which is what the training layers use. ``gemm_fp16`` is the
paper's FP16 accumulation, kept as an ablation.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from golden.checks import (  # noqa: F401  (the ranges and checks hdl/ and sim/ import from here)
    ACC_WIDTH_MAX, ACC_WIDTH_MIN, READOUT_OFFSET_BITS, READOUT_OFFSET_MAX, READOUT_OFFSET_MIN,
    check_acc_width, check_codes, check_exp_offset, check_gemm_mode, check_gemm_shapes,
    check_phase)
from golden.format_table import A_FORMATS, B_FORMATS, format_of  # noqa: F401  (re-exported)

FP16_MAX = 65504.0


class GemmResult(NamedTuple):
    """Accumulators plus the per-output sticky overflow (saturation) flags."""

    acc: np.ndarray        # int64 (M, N)
    overflow: np.ndarray   # bool (M, N)


def operand_values(codes, fmt: str, *, phase: int = 0) -> np.ndarray:
    """Codes -> the integer each contributes to a product (R4: signed power of two, 2^-7 units):
    the format table's value grid (:meth:`golden.format_table.FormatSpec.grid`)."""
    spec = format_of(fmt)
    if spec.phased:
        check_phase(phase)
    return np.take(spec.grid(phase), check_codes(codes))


@lru_cache(maxsize=None)
def max_product(a_format: str, b_format: str) -> int:
    """Largest |a * b| over all code pairs (sets the no-overflow bound on K)."""
    a = operand_values(np.arange(16), a_format)
    b = operand_values(np.arange(16), b_format)
    return int(np.abs(np.outer(a, b)).max())


def max_safe_k(a_format: str, b_format: str, acc_width: int = 32) -> int:
    """Largest K for which no partial sum can saturate an ``acc_width``-bit accumulator."""
    return (2 ** (check_acc_width(acc_width) - 1) - 1) // max_product(a_format, b_format)


class AccumulatorBoundError(ValueError):
    """K exceeds the bound below which the accumulator provably cannot saturate."""


class SaturationWarning(RuntimeWarning):
    """Results saturated (the defined behaviour) and the caller did not ask for the flags."""


def check_k_bound(k: int, a_format: str, b_format: str, acc_width: int = 32) -> int:
    """Raise :class:`AccumulatorBoundError` if a K-long dot product could saturate the register.

    Callers that must never see a saturated accumulator (the training layers) call this before
    every GEMM; splitting K into chunks and adding the read-outs is the caller's remedy.
    """
    bound = max_safe_k(a_format, b_format, acc_width)
    if k > bound:
        raise AccumulatorBoundError(
            f"K = {k} exceeds the guaranteed bound {bound} of a {acc_width}-bit accumulator for "
            f"{a_format} x {b_format} products: partial sums could saturate")
    return int(k)


def gemm(a_codes, b_codes, *, a_format, b_format, phase=0, acc_width=32, flags=False,
         strict=False):
    """Exact 4-bit GEMM ``C = A @ B`` as the array computes it.

    Parameters
    ----------
    a_codes : array_like, shape (M, K)
        INT4 or UINT4 codes (bit patterns 0..15).
    b_codes : array_like, shape (K, N)
        INT4, UINT4 or R4 codes.
    a_format : {"int4", "uint4"}
    b_format : {"int4", "uint4", "r4"}
    phase : {0, 1}
        TPR phase of R4 operand B (ignored for integer B, but still validated).
    acc_width : int
        Signed accumulator width, 18..48.
    flags : bool
        Return a :class:`GemmResult` with the sticky overflow flags as well.
    strict : bool
        Raise :class:`AccumulatorBoundError` when K exceeds :func:`max_safe_k` instead of
        computing (possibly saturated) accumulators.

    Returns
    -------
    numpy.ndarray of int64, shape (M, N), or GemmResult
        Accumulators. R4 products are in units of 2^-7 at scale exponent 0, so the real value
        is ``acc * 2^(-7 - scale_exp)``; pass that offset to :func:`readout`. Without
        ``flags`` the flags are not returned, and a :class:`SaturationWarning` says how many
        outputs saturated; callers that may exceed :func:`max_safe_k` should ask for them.

    Notes
    -----
    Sticky saturation. Accumulation runs in K order over the exact partial sums
    ``S_k = sum_{i <= k} a_i * b_i``. If every ``S_k`` lies in ``[-2^(W-1), 2^(W-1) - 1]``
    (W = ``acc_width``) the result is the exact sum; otherwise the result is the rail on the
    side of the *first* ``S_k`` outside that range (``2^(W-1) - 1`` above, ``-2^(W-1)``
    below) and the overflow flag is set, whatever the later products do. This is what the PE
    does in hardware: it freezes the accumulator at the first overflow and the drain clamps
    once, so no clamp sits in the per-add loop (docs/array.md). It differs from clamping after
    every add only for K beyond :func:`max_safe_k` (a later product of the other sign would
    pull a per-add clamped sum back into range, the sticky result stays at the rail); within
    the bound no partial sum can leave the range and the result is the exact sum.
    """
    check_gemm_mode(a_format, b_format, phase)
    width = check_acc_width(acc_width)
    a, b = check_gemm_shapes(a_codes, b_codes)
    if strict:
        check_k_bound(a.shape[1], a_format, b_format, width)
    av = operand_values(a, a_format)
    bv = operand_values(b, b_format, phase=phase)
    lo, hi = -(2 ** (width - 1)), 2 ** (width - 1) - 1
    # float64 products and sums are exact here (|sum| < 2^17 * K < 2^53 for any sane K).
    af, bf = av.astype(np.float64), bv.astype(np.float64)
    acc = (af @ bf).astype(np.int64)
    overflow = np.zeros(acc.shape, dtype=bool)
    if a.shape[1] <= max_safe_k(a_format, b_format, width):
        risky = None                         # no partial sum can leave the register
    else:
        risky = (np.abs(af) @ np.abs(bf)) > hi   # worst partial sum of each output
    if risky is not None and risky.any():
        rows, cols = np.nonzero(risky)
        acc[rows, cols], overflow[rows, cols] = _sticky_walk(av, bv, rows, cols, lo, hi)
    if flags:
        return GemmResult(acc, overflow)
    _warn_saturated(overflow, "gemm", "accumulators")
    return acc


def _sticky_walk(av, bv, rows, cols, lo, hi):
    """Sticky saturation of the outputs (rows[n], cols[n]) of ``av @ bv``, walking K in order.

    Returns (acc, overflow): the exact sum where every partial sum stays in [lo, hi];
    otherwise the rail (lo or hi) on the side of the *first* partial sum that left the range.
    """
    run = np.zeros(rows.size, dtype=np.int64)
    rail = np.zeros(rows.size, dtype=np.int64)
    sat = np.zeros(rows.size, dtype=bool)
    for k in range(av.shape[1]):
        run = run + av[rows, k] * bv[k, cols]
        first = ~sat & ((run > hi) | (run < lo))
        rail[first] = np.where(run[first] > hi, hi, lo)
        sat |= first
    return np.where(sat, rail, run), sat


def _warn_saturated(overflow, func, what):
    """Say so when results saturated and the caller did not ask for the overflow flags."""
    n = int(np.count_nonzero(overflow))
    if n:
        warnings.warn(f"{func}: {n} {what} saturated; pass flags=True to get the sticky "
                      f"overflow flag of each", SaturationWarning, stacklevel=3)


class ReadoutResult(NamedTuple):
    """FP16 results plus the per-element overflow flag (a result that would have been Inf)."""

    values: np.ndarray     # float16
    overflow: np.ndarray   # bool


def readout(acc, *, exp_offset=0, flags=False):
    """Accumulators -> FP16: ``acc * 2^exp_offset`` rounded to nearest-even, as the RTL does.

    IEEE subnormals are produced; a result whose rounding would overflow to +-Inf saturates to
    +-65504 and raises the overflow flag instead. Zero is +0.

    Parameters
    ----------
    acc : array_like of int
        Accumulator values (at most 48 bits signed).
    exp_offset : int
        Power-of-two offset, a signed 9-bit register (-256..255).
    flags : bool
        Return a :class:`ReadoutResult` with the overflow flags.
    """
    check_exp_offset(exp_offset)
    a = np.asarray(acc)
    if a.dtype.kind not in "iu":
        raise TypeError(f"acc must be an integer array, not dtype {a.dtype}")
    top = 2 ** (ACC_WIDTH_MAX - 1)
    # (Checked before the cast to int64, which would wrap a uint64 from 2^63 up.)
    if a.size and (int(a.min()) < -top or int(a.max()) >= top):
        raise ValueError(f"accumulator values must fit {ACC_WIDTH_MAX} signed bits")
    a = a.astype(np.int64)
    # Exact in float64 (|acc| <= 2^47; ldexp only moves the exponent, and float64's exponent
    # range covers 2^(47+255) and 2^-256 without rounding); the cast to float16 is one RNE step.
    exact = np.ldexp(a.astype(np.float64), exp_offset)
    with np.errstate(over="ignore"):
        h = exact.astype(np.float16)
    over = np.isinf(h)
    h = np.where(over, np.copysign(np.float16(FP16_MAX), exact), h).astype(np.float16)
    h = np.where(a == 0, np.float16(0.0), h).astype(np.float16)
    if flags:
        return ReadoutResult(h, over)
    _warn_saturated(over, "readout", "results (to +-65504)")
    return h


class Fp16GemmResult(NamedTuple):
    """FP16 sums plus the per-output sticky overflow flag (a partial sum that would be Inf)."""

    values: np.ndarray     # float16 (M, N)
    overflow: np.ndarray   # bool (M, N)


def gemm_fp16(a_codes, b_codes, *, a_format, b_format, phase=0, exp_offset=0, flags=False):
    """The paper's FP16 accumulation, an ablation: ``sum_k fp16(a*b*2^exp_offset)`` in K order.

    Each product ``a_k * b_k * 2^exp_offset`` (exact in float64) is rounded to FP16 (RNE), then
    added to the running FP16 sum with one RNE rounding after every add, sequentially in K
    order -- the FMA-free FP16 accumulator whose swamping the exact integer accumulator avoids.
    A product or partial sum beyond FP16 range saturates to +-65504 and sets the sticky flag.
    The loop runs over K only; every step is vectorised over the M x N outputs.

    Parameters are those of :func:`gemm`, with ``exp_offset`` (as for :func:`readout`, and in
    the same -256..255 range) instead of ``acc_width``: pass the offset the exact path would
    give :func:`readout` to compare them.
    """
    check_gemm_mode(a_format, b_format, phase)
    check_exp_offset(exp_offset)
    a, b = check_gemm_shapes(a_codes, b_codes)
    av = np.ldexp(operand_values(a, a_format).astype(np.float64), int(exp_offset))
    bv = operand_values(b, b_format, phase=phase).astype(np.float64)
    top = np.float64(FP16_MAX)
    acc = np.zeros((a.shape[0], b.shape[1]), dtype=np.float64)
    overflow = np.zeros(acc.shape, dtype=bool)
    with np.errstate(over="ignore"):
        for k in range(a.shape[1]):
            # float64 holds any FP16 + FP16 sum exactly, so the cast is the one RNE step.
            prod = np.outer(av[:, k], bv[k]).astype(np.float16).astype(np.float64)
            overflow |= np.isinf(prod)
            s = (acc + np.clip(prod, -top, top)).astype(np.float16).astype(np.float64)
            overflow |= np.isinf(s)
            acc = np.clip(s, -top, top)
    values = acc.astype(np.float16)
    if flags:
        return Fp16GemmResult(values, overflow)
    _warn_saturated(overflow, "gemm_fp16", "sums (to +-65504)")
    return values
