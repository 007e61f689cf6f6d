"""The MXFP4 GEMM of docs/numerics.md §10.5: exact block sums in a fixed-point window.

``C = A @ B`` with A (M, K) and B (K, N) MXFP4 tensors blocked along K (golden.mx: A's scales
are (M, K / 32), B's (K / 32, N)). For every output and every block j of K:

- products of E2M1 codes are exact, integers in units of 2^-2 (the format table's E2M1 grid is
  in units of 2^-1); the block's sum P_j of 32 of them is exact, |P_j| <= 32 * 144 = 4608, a
  signed 14-bit integer (:data:`BLOCK_SUM_BITS`);
- the block carries the exponent E_j = (scale_a - 127) + (scale_b - 127) of its two E8M0 scales,
  so it is worth P_j * 2^(E_j - 2);
- the window is anchored at the largest E_j of the output (from the scales alone, before any
  data), E_max, and keeps ``frac_bits`` bits below the anchor block's unit: each block enters as
  floor(P_j * 2^(frac_bits - (E_max - E_j))), an arithmetic right shift, and the sticky
  ``inexact`` flag records whether any shifted-out bit was set;
- the window sums are exact; the result is ``acc * 2^exp`` with exp = E_max - 2 - frac_bits.

When no block's scale exponent lies more than ``frac_bits`` below E_max nothing is shifted out
and the result is the exact sum. Otherwise each block loses less than one unit 2^exp (always
downwards), so exact - 2^exp * blocks < result <= exact. A NaN scale (0xFF) anywhere in an
output's row of A or column of B makes that output NaN.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from golden.checks import check_codes, check_int_array, check_int_in_range
from golden.format_table import FORMATS, ElemFormat
from golden.fp4 import E8M0_BIAS, E8M0_NAN
from golden.mx import MXFP4_BLOCK

E2M1 = FORMATS[ElemFormat.E2M1]
#: Products of two E2M1 codes are integers in units of 2^PRODUCT_UNIT_EXP.
PRODUCT_UNIT_EXP = 2 * E2M1.unit_exp
#: Largest |block sum| of 32 products, in those units, and the signed width that holds it.
BLOCK_SUM_MAX = MXFP4_BLOCK * E2M1.max_value ** 2
BLOCK_SUM_BITS = BLOCK_SUM_MAX.bit_length() + 1
#: Default bits kept below the anchor block's unit (docs/numerics.md §10.5 has the figures).
FRAC_BITS = 24
#: Most bits kept: a shifted block sum stays below 2^53, so every step is exact in int64.
FRAC_BITS_MAX = 53 - BLOCK_SUM_BITS
#: The exponent a NaN block takes in the window: below every block of both formats.
NAN_BLOCK_EXP = -4 * E8M0_BIAS


class MxGemmResult(NamedTuple):
    """Window sums of an MXFP4 GEMM: each output is ``acc * 2^exp``, or NaN where ``nan``."""

    acc: np.ndarray       # int64 (M, N), signed, at most mx_acc_width(K, frac_bits) bits
    exp: np.ndarray       # int64 (M, N): E_max - 2 - frac_bits (0 where nan)
    inexact: np.ndarray   # bool (M, N): sticky, a set bit was shifted out of the window
    nan: np.ndarray       # bool (M, N): a NaN block scale reached this output


def mx_acc_width(k: int, frac_bits: int = FRAC_BITS) -> int:
    """Signed width of the window accumulator for dot products of length ``k`` (a multiple of
    32): it holds k / 32 block sums of at most 4608 * 2^frac_bits in magnitude."""
    blocks = check_int_in_range("k", k, MXFP4_BLOCK, 2 ** 30) // MXFP4_BLOCK
    frac_bits = check_int_in_range("frac_bits", frac_bits, 0, FRAC_BITS_MAX)
    return (blocks * BLOCK_SUM_MAX << frac_bits).bit_length() + 1


def gemm_mxfp4(a_codes, a_scales, b_codes, b_scales, *, frac_bits=FRAC_BITS) -> MxGemmResult:
    """MXFP4 GEMM as the module docstring defines it.

    Parameters
    ----------
    a_codes : array_like of uint8, shape (M, K)
        E2M1 codes, K a positive multiple of 32.
    a_scales : array_like of uint8, shape (M, K / 32)
        E8M0 codes of A's blocks along K.
    b_codes : array_like of uint8, shape (K, N)
    b_scales : array_like of uint8, shape (K / 32, N)
    frac_bits : int
        Window bits below the anchor block's unit, 0..:data:`FRAC_BITS_MAX`; the accumulator is
        :func:`mx_acc_width` bits wide.

    Returns
    -------
    MxGemmResult
    """
    frac_bits = check_int_in_range("frac_bits", frac_bits, 0, FRAC_BITS_MAX)
    a, b, blocks = check_block_operands(a_codes, b_codes, MXFP4_BLOCK, BLOCK_SUM_BITS, frac_bits)
    (m, k), n = a.shape, b.shape[1]
    sa = check_scales(a_scales, "a_scales", (m, blocks))
    sb = check_scales(b_scales, "b_scales", (blocks, n))
    nan_block = (sa.T == E8M0_NAN)[:, :, None] | (sb == E8M0_NAN)[:, None, :]
    block_exp = (sa.T - E8M0_BIAS)[:, :, None] + (sb - E8M0_BIAS)[:, None, :]
    return window_sum(block_sums(a, b, MXFP4_BLOCK), block_exp, nan_block, frac_bits)


def check_block_operands(a_codes, b_codes, block: int, sum_bits: int, frac_bits: int):
    """E2M1 operands A (M, K) and B (K, N) of a block-scaled GEMM, checked: uint8 codes of
    agreeing shapes, K a positive multiple of ``block`` and small enough that the window of
    ``sum_bits``-bit block values at ``frac_bits`` fits int64. Returns (a, b, K / block)."""
    a, b = check_codes(a_codes, "a_codes"), check_codes(b_codes, "b_codes")
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"a_codes (M, K) and b_codes (K, N) must agree, not {a.shape} and "
                         f"{b.shape}")
    k = a.shape[1]
    if k == 0 or k % block:
        raise ValueError(f"K must be a positive multiple of {block}, not {k}")
    check_int_in_range("K", k, 1, block << (62 - sum_bits - frac_bits),
                       f" for the int64 accumulator at frac_bits = {frac_bits}")
    return a, b, k // block


def block_sums(a: np.ndarray, b: np.ndarray, block: int) -> np.ndarray:
    """Exact sums P[j, m, n] of the E2M1 products of block j of checked codes A (M, K) and
    B (K, N), int64 in units of 2^:data:`PRODUCT_UNIT_EXP` (float64 holds them exactly)."""
    (m, k), n = a.shape, b.shape[1]
    grid = E2M1.grid()
    av = grid[a].reshape(m, k // block, block).transpose(1, 0, 2).astype(np.float64)
    bv = grid[b].reshape(k // block, block, n).astype(np.float64)
    return (av @ bv).astype(np.int64)


def window_sum(values, block_exp, nan_block, frac_bits: int) -> MxGemmResult:
    """The window of docs/numerics.md §10.5 over exact block values: block j of output (m, n)
    is worth ``values[j, m, n] * 2^(block_exp[j, m, n] + PRODUCT_UNIT_EXP)`` (int64 arrays of
    shape (blocks, M, N); ``nan_block`` marks NaN blocks, whose exponent does not count).
    Each block enters as floor(values * 2^(frac_bits - (E_max - E_j))), E_max the largest
    non-NaN E_j of the output; exp = E_max + PRODUCT_UNIT_EXP - frac_bits."""
    block_exp = np.where(nan_block, NAN_BLOCK_EXP, block_exp)
    anchor = block_exp.max(axis=0)
    shift = np.minimum(anchor - block_exp, 63)
    wide = np.where(nan_block, 0, values) << frac_bits
    lost = (wide & ((np.int64(1) << np.minimum(shift, 62)) - 1)) != 0
    nan = nan_block.any(axis=0)
    acc = np.where(nan, 0, (wide >> shift).sum(axis=0))
    exp = np.where(nan, 0, anchor + PRODUCT_UNIT_EXP - frac_bits)
    return MxGemmResult(acc, exp, lost.any(axis=0) & ~nan, nan)


def mx_gemm_values(result: MxGemmResult) -> np.ndarray:
    """float64 values ``acc * 2^exp`` of a :class:`MxGemmResult`, NaN where ``nan``; exact
    whenever |acc| < 2^53, so always when :func:`mx_acc_width` is at most 54 (e.g. the default
    24 fraction bits up to K = 2^20)."""
    return np.where(result.nan, np.nan, np.ldexp(result.acc.astype(np.float64), result.exp))


def check_scales(scales, name: str, shape: tuple, fmt: str = "E8M0") -> np.ndarray:
    """8-bit block scale codes of format ``fmt`` (named in the errors) as int64 of ``shape``."""
    s = check_int_array(scales, 0, 255, kind=f"{name} must be an integer array of {fmt} codes",
                        within=f"{name} must hold 8-bit codes 0..255")
    if s.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, not {s.shape}")
    return s.astype(np.int64)
