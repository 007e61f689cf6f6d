"""golden/gemm_nv.py against exact ``fractions.Fraction`` arithmetic on the decoded operands.

The references never see a block value as an integer: they multiply the decoded E2M1 values and
E4M3 scales (golden.fp4's decoders, checked against ml_dtypes in test_mx.py) as Fractions. With
the default window (28 fraction bits, the whole E4M3 exponent range) the GEMM must equal the
exact sum on every input; with a narrower one it must equal the documented truncation, the sum
over blocks of floor(block / 2^exp).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from golden.fp4 import e2m1_decode, e4m3_decode
from golden.gemm_mx import mx_gemm_values
from golden.gemm_nv import (BLOCK_SUM_BITS, BLOCK_VALUE_BITS, EXP_SPREAD, FRAC_BITS,
                            FRAC_BITS_MAX, e4m3_fields, gemm_nvfp4, nv_acc_width)
from golden.mx import nvfp4_dequantize, nvfp4_quantize

SEEDS = (3, 0xC0FFEE, 99)
#: E4M3 codes: NaN, the largest magnitudes, the subnormals and both zeros.
NAN_SCALES = (0x7F, 0xFF)
EDGE_SCALES = (0x7E, 0xFE, 0x00, 0x80, 0x01, 0x81, 0x07, 0x08, 0x38, 0x77)


def _operands(seed, m, k, n, scales=None):
    """Random E2M1 codes and random non-NaN E4M3 scales (any sign, subnormals and zeros
    included), or scales drawn from ``scales``."""
    rng = np.random.default_rng(seed)
    pool = np.array([c for c in range(256) if c & 0x7F != 0x7F] if scales is None else scales)
    return (rng.integers(0, 16, (m, k), dtype=np.uint8),
            rng.choice(pool, (m, k // 16)).astype(np.uint8),
            rng.integers(0, 16, (k, n), dtype=np.uint8),
            rng.choice(pool, (k // 16, n)).astype(np.uint8))


def _fractions(values, shape):
    return np.array([Fraction(float(v)) for v in np.ravel(values)], dtype=object).reshape(shape)


def block_values(a_codes, a_scales, b_codes, b_scales):
    """V[i][j][t]: the exact value of block t of output (i, j), as a Fraction."""
    a = _fractions(e2m1_decode(a_codes), a_codes.shape)
    b = _fractions(e2m1_decode(b_codes), b_codes.shape)
    sa = _fractions(e4m3_decode(a_scales), a_scales.shape)
    sb = _fractions(e4m3_decode(b_scales), b_scales.shape)
    return [[[sum(a[i, 16 * t:16 * t + 16] * b[16 * t:16 * t + 16, j], Fraction(0))
              * sa[i, t] * sb[t, j] for t in range(a_scales.shape[1])]
             for j in range(b_codes.shape[1])] for i in range(a_codes.shape[0])]


def window_reference(values, a_scales, b_scales, frac_bits):
    """(acc, exp, inexact) of every output by the documented rule, from the exact blocks; the
    block exponent is read off the scale codes' exponent fields."""
    rows, cols = len(values), len(values[0])
    acc = np.zeros((rows, cols), dtype=object)
    exp = np.zeros((rows, cols), dtype=np.int64)
    inexact = np.zeros((rows, cols), dtype=bool)
    field = lambda c: max((int(c) >> 3) & 15, 1)                     # noqa: E731
    for i in range(rows):
        for j in range(cols):
            anchor = max(field(a_scales[i, t]) + field(b_scales[t, j]) - 20
                         for t in range(a_scales.shape[1]))
            exp[i, j] = anchor - 2 - frac_bits
            parts = [v / Fraction(2) ** int(exp[i, j]) for v in values[i][j]]
            acc[i, j] = sum(math.floor(p) for p in parts)
            inexact[i, j] = any(p.denominator != 1 for p in parts)
    return acc, exp, inexact


def exact_values(result):
    return [[Fraction(int(a)) * Fraction(2) ** int(e) for a, e in zip(ra, re)]
            for ra, re in zip(result.acc, result.exp)]


def test_scale_fields_decode_every_e4m3_code():
    sig, exp, nan = e4m3_fields(np.arange(256))
    want = e4m3_decode(np.arange(256))
    assert np.array_equal(nan, np.isnan(want))
    assert np.array_equal(np.ldexp(sig.astype(np.float64), exp - 10)[~nan], want[~nan])
    assert np.abs(sig).max() == 15 and exp.min() == 1 and exp.max() == 15


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("scales", [None, EDGE_SCALES])
def test_default_window_is_exact_on_every_scale(seed, scales):
    """Scales over the whole E4M3 range (subnormals, zeros, +-448, negative): exact."""
    ops = _operands(seed, 4, 160, 3, scales)
    got = gemm_nvfp4(*ops)
    exact = [[sum(v) for v in row] for row in block_values(*ops)]
    assert exact_values(got) == exact, f"seed {seed}"
    assert not got.inexact.any() and not got.nan.any()


def test_exact_even_across_the_whole_exponent_range():
    """One block at the largest scales, one at the least subnormal ones: 28 binades apart."""
    a, b = np.full((1, 32), 1, np.uint8), np.full((32, 1), 9, np.uint8)      # 0.5 * -0.5
    a[0, 17:] = 0                                 # the low block's sum is one unit, odd
    sa, sb = np.array([[0x7E, 0x01]], np.uint8), np.array([[0x7E], [0x01]], np.uint8)
    got = gemm_nvfp4(a, sa, b, sb)
    want = -4 * 448 * 448 - Fraction(1, 4 * 2 ** 18)
    assert exact_values(got) == [[want]] and not got.inexact.any()
    assert EXP_SPREAD == FRAC_BITS == 28
    lossy = gemm_nvfp4(a, sa, b, sb, frac_bits=27)
    assert lossy.inexact[0, 0] and exact_values(lossy)[0][0] < want


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("frac_bits", [0, 3, 16, 24])
def test_narrow_window_truncates_each_block_down(seed, frac_bits):
    ops = _operands(seed, 3, 320, 4)
    ops[1][0, :2], ops[3][:2, 0] = (0x7E, 0x01), (0xF9, 0x81)    # 28 binades apart
    ops[0][0, 16:32], ops[0][0, 16], ops[2][16, 0] = 0, 1, 1     # (0, 0)'s low block: odd
    got = gemm_nvfp4(*ops, frac_bits=frac_bits)
    values = block_values(*ops)
    acc, exp, inexact = window_reference(values, ops[1], ops[3], frac_bits)
    assert got.acc.tolist() == acc.tolist(), f"seed {seed}"
    assert np.array_equal(got.exp, exp) and np.array_equal(got.inexact, inexact), f"seed {seed}"
    assert inexact.any(), "the spread must shift bits out"
    for i in range(3):
        for j in range(4):
            err = sum(values[i][j]) - int(acc[i, j]) * Fraction(2) ** int(exp[i, j])
            assert 0 <= err < 20 * Fraction(2) ** int(exp[i, j]), f"seed {seed}, ({i}, {j})"


def test_anchor_comes_from_the_scales_alone():
    """A block of zero codes with the largest scales still anchors the window (row 0), so at
    frac_bits = 4 the other blocks lose their low bits."""
    ops = _operands(8, 2, 48, 2, (0x30, 0x31, 0x2F))
    ops[0][0, :16] = 0                        # row 0: zero codes under a large scale
    ops[1][:, 0] = (0x70, 0x70)
    got = gemm_nvfp4(*ops, frac_bits=4)
    values = block_values(*ops)
    acc, exp, inexact = window_reference(values, ops[1], ops[3], 4)
    assert got.acc.tolist() == acc.tolist() and np.array_equal(got.exp, exp)
    assert np.array_equal(got.inexact, inexact) and inexact.all()
    assert (got.exp[0] == got.exp[1]).all()


def test_zero_scales_give_zero_blocks():
    ops = _operands(4, 2, 64, 2)
    ops[1][:] = 0x00
    ops[1][1] = 0x80                                 # -0
    got = gemm_nvfp4(*ops)
    assert not got.acc.any() and not got.inexact.any() and not got.nan.any()


def test_nan_scales_reach_only_their_outputs():
    ops = _operands(5, 4, 64, 4)
    ops[1][2, 1] = NAN_SCALES[0]
    ops[3][0, 3] = NAN_SCALES[1]
    got = gemm_nvfp4(*ops)
    want = np.zeros((4, 4), dtype=bool)
    want[2, :] = want[:, 3] = True
    assert np.array_equal(got.nan, want) and not got.acc[want].any()
    assert not got.exp[want].any() and not got.inexact[want].any()
    values = mx_gemm_values(got)
    assert np.isnan(values[want]).all() and np.isfinite(values[~want]).all()
    clean = [np.where(s & 0x7F == 0x7F, 0x38, s) for s in (ops[1], ops[3])]
    exact = block_values(ops[0], clean[0], ops[2], clean[1])
    assert all(exact_values(got)[i][j] == sum(exact[i][j])
               for i in range(4) for j in range(4) if not want[i, j])


def test_accumulator_width_is_reached():
    """Codes 6 x -6 under scales -240 (significand 15): every block value is -518400."""
    k = 64
    a, b = np.full((1, k), 7, np.uint8), np.full((k, 1), 15, np.uint8)
    sa, sb = np.full((1, k // 16), 0xF7, np.uint8), np.full((k // 16, 1), 0xF7, np.uint8)
    got = gemm_nvfp4(a, sa, b, sb)
    assert int(got.acc[0, 0]) == -(k // 16) * 518400 << FRAC_BITS
    assert (-int(got.acc[0, 0]) - 1).bit_length() + 1 == nv_acc_width(k)
    assert (BLOCK_SUM_BITS, BLOCK_VALUE_BITS) == (13, 20)
    assert nv_acc_width(4096) == 56 and nv_acc_width(4096, 24) == 52


@pytest.mark.parametrize("seed", SEEDS)
def test_quantized_tensors_multiply_exactly(seed):
    """End to end: random FP32 matrices through golden.mx.nvfp4_quantize; the GEMM times the
    two tensor scales equals the exact sum of the dequantized products, and its float64 value
    that sum rounded once (and the float64 matmul of the dequantized values to 1e-12)."""
    rng = np.random.default_rng(seed)
    gain = np.exp2(rng.uniform(-12, 12, (5, 1)))
    x = (rng.standard_normal((5, 96)) * gain).astype(np.float32)
    x[1, 16:32] = 0                                          # a zero block
    y = rng.standard_normal((96, 4)).astype(np.float32) * np.float32(1e-3)
    a, b = nvfp4_quantize(x, axis=1), nvfp4_quantize(y, axis=0)
    got = gemm_nvfp4(a.codes, a.scales, b.codes, b.scales)
    assert not got.inexact.any()
    da = nvfp4_dequantize(a.codes, a.scales, a.tensor_scale, axis=1)
    db = nvfp4_dequantize(b.codes, b.scales, b.tensor_scale, axis=0)
    fa, fb = _fractions(da, da.shape), _fractions(db, db.shape)
    exact = [[sum(fa[i] * fb[:, j], Fraction(0)) for j in range(4)] for i in range(5)]
    scale = Fraction(float(a.tensor_scale)) * Fraction(float(b.tensor_scale))
    result = [[v * scale for v in row] for row in exact_values(got)]
    assert result == exact, f"seed {seed}"
    assert np.array_equal(mx_gemm_values(got) * float(scale),
                          np.array([[float(v) for v in row] for row in exact])), f"seed {seed}"
    assert np.allclose(mx_gemm_values(got) * float(scale), da @ db, rtol=1e-12, atol=0)


def _zeros(m=2, k=32, n=2):
    return (np.zeros((m, k), np.uint8), np.zeros((m, k // 16), np.uint8),
            np.zeros((k, n), np.uint8), np.zeros((k // 16, n), np.uint8))


@pytest.mark.parametrize("change, kwargs, error, words", [
    ({0: np.zeros((2, 40), np.uint8)}, {}, ValueError, "must agree"),
    ({0: np.zeros((2, 24), np.uint8), 2: np.zeros((24, 2), np.uint8)}, {}, ValueError,
     "K must be a positive multiple of 16, not 24"),
    ({1: np.zeros((2, 1), np.uint8)}, {}, ValueError, r"a_scales must have shape \(2, 2\)"),
    ({3: np.zeros((2, 3), np.uint8)}, {}, ValueError, r"b_scales must have shape \(2, 2\)"),
    ({2: np.full((32, 2), 16)}, {}, ValueError, "b_codes must hold 4-bit codes"),
    ({3: np.full((2, 2), 256)}, {}, ValueError, "b_scales must hold 8-bit codes"),
    ({1: np.full((2, 2), -1)}, {}, ValueError, "a_scales must hold 8-bit codes"),
    ({1: np.full((2, 2), 1.5)}, {}, TypeError, "a_scales must be an integer array of E4M3"),
    ({}, {"frac_bits": FRAC_BITS_MAX + 1}, ValueError, "frac_bits must be in 0..33"),
    ({}, {"frac_bits": 2.0}, TypeError, "frac_bits must be an integer"),
])
def test_errors_name_the_bad_value(change, kwargs, error, words):
    args = list(_zeros())
    for i, v in change.items():
        args[i] = v
    with pytest.raises(error, match=words):
        gemm_nvfp4(*args, **kwargs)
