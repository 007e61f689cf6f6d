"""The NVFP4 GEMM of docs/numerics.md §10.7: exact scaled block sums in a fixed-point window.

``C = A @ B`` with A (M, K) and B (K, N) NVFP4 tensors blocked along K (golden.mx: A's E4M3
scales are (M, K / 16), B's (K / 16, N)), before the two FP32 tensor scales, which the host
applies to the read-out. For every output and every block j of K:

- products of E2M1 codes are exact, integers in units of 2^-2, and the block's sum P_j of 16
  of them is exact, |P_j| <= 16 * 144 = 2304, a signed 13-bit integer;
- an E4M3 scale is exactly a signed 4-bit significand times a power of two: code
  ``s eeee mmm`` is (-1)^s * M * 2^(max(e, 1) - 10) with M = 8 + m for e > 0 and M = m for the
  subnormals e = 0 (0 and -0 included); so the product of the block's two scales is exactly
  the signed 8-bit integer Ma * Mb (|Ma Mb| <= 225) times 2^E_j, E_j = max(ea, 1) + max(eb, 1)
  - 20 in -18..10 (:func:`e4m3_fields`);
- the block is worth Q_j * 2^(E_j - 2) with the exact integer Q_j = P_j * Ma * Mb,
  |Q_j| <= 2304 * 225 = 518400, a signed 20-bit integer (:data:`BLOCK_VALUE_BITS`); a zero
  scale gives Q_j = 0;
- the window is MXFP4's (golden.gemm_mx.window_sum): anchored at E_max, the largest E_j of the
  output's non-NaN blocks, from the scales alone, keeping ``frac_bits`` bits below the anchor
  block's unit, floor per block, sticky ``inexact``; exp = E_max - 2 - frac_bits.

E_j spans 28 binades (:data:`EXP_SPREAD`), so the default ``frac_bits`` = 28 never shifts a
bit out: every non-NaN result is the exact sum. An E4M3 NaN scale (0x7F / 0xFF) anywhere in an
output's row of A or column of B makes that output NaN (acc 0, as MXFP4's 0xFF does).
"""

from __future__ import annotations

import numpy as np

from golden.checks import check_int_in_range
from golden.fp4 import E4M3_NAN
from golden.gemm_mx import (E2M1, MxGemmResult, block_sums, check_block_operands,
                            check_scales, window_sum)
from golden.mx import NVFP4_BLOCK

#: Largest |block sum| of 16 E2M1 products (units of 2^-2) and the signed width that holds it.
BLOCK_SUM_MAX = NVFP4_BLOCK * E2M1.max_value ** 2
BLOCK_SUM_BITS = BLOCK_SUM_MAX.bit_length() + 1
#: Largest E4M3 significand (8 + 7) and |Ma Mb|, the scale significands' product (8 bits).
E4M3_SIG_MAX = 15
SCALE_PRODUCT_MAX = E4M3_SIG_MAX ** 2
#: Largest |Q_j| = |P_j Ma Mb| and the signed width that holds it.
BLOCK_VALUE_MAX = BLOCK_SUM_MAX * SCALE_PRODUCT_MAX
BLOCK_VALUE_BITS = BLOCK_VALUE_MAX.bit_length() + 1
#: E4M3 exponent fields: a scale's unit is 2^(max(e, 1) - E4M3_UNIT_BIAS), e in 0..15.
E4M3_UNIT_BIAS = 10
#: E_j = max(ea, 1) + max(eb, 1) - SCALE_EXP_BIAS; the sum of the two fields lies in 2..30.
SCALE_EXP_BIAS = 2 * E4M3_UNIT_BIAS
EXP_SUM_MIN, EXP_SUM_MAX = 2, 30
#: The most binades between two blocks' E_j: a window with this many fraction bits is exact.
EXP_SPREAD = EXP_SUM_MAX - EXP_SUM_MIN
#: Default bits kept below the anchor block's unit: all of them (docs/numerics.md §10.7).
FRAC_BITS = EXP_SPREAD
#: Most bits kept: a shifted block value stays below 2^53, so every step is exact in int64.
FRAC_BITS_MAX = 53 - BLOCK_VALUE_BITS


def nv_acc_width(k: int, frac_bits: int = FRAC_BITS) -> int:
    """Signed width of the window accumulator for dot products of length ``k`` (a multiple of
    16): it holds k / 16 block values of at most 518400 * 2^frac_bits in magnitude, so
    20 + frac_bits + ceil(log2(k / 16)) bits (56 at the defaults and k = 4096)."""
    blocks = check_int_in_range("k", k, NVFP4_BLOCK, 2 ** 30) // NVFP4_BLOCK
    frac_bits = check_int_in_range("frac_bits", frac_bits, 0, FRAC_BITS_MAX)
    return (blocks * BLOCK_VALUE_MAX << frac_bits).bit_length() + 1


def e4m3_fields(codes):
    """E4M3 scale codes (int64 array) -> (signed significand, max(e, 1), NaN mask): the value
    of a non-NaN code is significand * 2^(max(e, 1) - 10), exactly."""
    c = np.asarray(codes, dtype=np.int64)
    e, m = (c >> 3) & 15, c & 7
    sig = np.where(e > 0, 8 + m, m)
    return np.where(c >> 7 == 1, -sig, sig), np.maximum(e, 1), (c & 0x7F) == E4M3_NAN


def gemm_nvfp4(a_codes, a_scales, b_codes, b_scales, *, frac_bits=FRAC_BITS) -> MxGemmResult:
    """NVFP4 GEMM as the module docstring defines it, without the tensor scales.

    Parameters
    ----------
    a_codes : array_like of uint8, shape (M, K)
        E2M1 codes, K a positive multiple of 16.
    a_scales : array_like of uint8, shape (M, K / 16)
        E4M3 codes of A's blocks along K (any sign; 0x7F / 0xFF are NaN).
    b_codes : array_like of uint8, shape (K, N)
    b_scales : array_like of uint8, shape (K / 16, N)
    frac_bits : int
        Window bits below the anchor block's unit, 0..:data:`FRAC_BITS_MAX` (default 28: exact);
        the accumulator is :func:`nv_acc_width` bits wide.

    Returns
    -------
    golden.gemm_mx.MxGemmResult
        Each output is ``acc * 2^exp`` (NaN where ``nan``); C = that times S_a * S_b, the FP32
        tensor scales of A and B (golden.mx.NvTensor.tensor_scale), applied by the host.
    """
    frac_bits = check_int_in_range("frac_bits", frac_bits, 0, FRAC_BITS_MAX)
    a, b, blocks = check_block_operands(a_codes, b_codes, NVFP4_BLOCK, BLOCK_VALUE_BITS,
                                        frac_bits)
    (m, k), n = a.shape, b.shape[1]
    sa = check_scales(a_scales, "a_scales", (m, blocks), "E4M3")
    sig_a, exp_a, nan_a = e4m3_fields(sa.T)
    sig_b, exp_b, nan_b = e4m3_fields(check_scales(b_scales, "b_scales", (blocks, n), "E4M3"))
    values = block_sums(a, b, NVFP4_BLOCK) * sig_a[:, :, None] * sig_b[:, None, :]
    block_exp = exp_a[:, :, None] + exp_b[:, None, :] - SCALE_EXP_BIAS
    return window_sum(values, block_exp, nan_a[:, :, None] | nan_b[:, None, :], frac_bits)

