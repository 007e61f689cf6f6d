"""golden/gemm_mx.py against exact ``fractions.Fraction`` arithmetic on the decoded operands.

The references never see a block sum as an integer: they multiply the decoded E2M1 values and
E8M0 scales (golden.fp4's decoders, themselves checked against ml_dtypes in test_mx.py) as
Fractions. Where the window is wide enough the GEMM must equal the exact sum; where it is not,
it must equal the documented truncation, the sum over blocks of floor(block / 2^exp).

``python -m verif.golden.test_mx_gemm`` prints the accuracy table of docs/numerics.md §10.5.
"""

from __future__ import annotations

import math
import sys
from fractions import Fraction

import numpy as np
import pytest

from golden.fp4 import e2m1_decode, e8m0_decode
from golden.gemm_mx import (BLOCK_SUM_BITS, FRAC_BITS, FRAC_BITS_MAX, gemm_mxfp4,
                            mx_acc_width, mx_gemm_values)
from golden.mx import mxfp4_quantize

SEEDS = (3, 0xC0FFEE, 99)


def _operands(seed: int, m: int, k: int, n: int, scale_lo: int, scale_hi: int):
    """Random E2M1 codes and E8M0 scales in scale_lo..scale_hi (no NaN)."""
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 16, (m, k), dtype=np.uint8),
            rng.integers(scale_lo, scale_hi + 1, (m, k // 32), dtype=np.uint8),
            rng.integers(0, 16, (k, n), dtype=np.uint8),
            rng.integers(scale_lo, scale_hi + 1, (k // 32, n), dtype=np.uint8))


def _fractions(values) -> list:
    return [Fraction(float(v)) for v in np.ravel(values)]


def block_values(a_codes, a_scales, b_codes, b_scales):
    """V[i][j][b]: the exact value of block b of output (i, j), as a Fraction."""
    a = np.array(_fractions(e2m1_decode(a_codes)), dtype=object).reshape(a_codes.shape)
    b = np.array(_fractions(e2m1_decode(b_codes)), dtype=object).reshape(b_codes.shape)
    sa = np.array(_fractions(e8m0_decode(a_scales)), dtype=object).reshape(a_scales.shape)
    sb = np.array(_fractions(e8m0_decode(b_scales)), dtype=object).reshape(b_scales.shape)
    blocks = a_codes.shape[1] // 32
    return [[[sum(a[i, 32 * t:32 * t + 32] * b[32 * t:32 * t + 32, j], Fraction(0))
              * sa[i, t] * sb[t, j] for t in range(blocks)]
             for j in range(b_codes.shape[1])] for i in range(a_codes.shape[0])]


def window_reference(values, a_scales, b_scales, frac_bits):
    """(acc, exp, inexact) of every output by the documented rule, from the exact blocks."""
    rows, cols = len(values), len(values[0])
    acc = np.zeros((rows, cols), dtype=object)
    exp = np.zeros((rows, cols), dtype=np.int64)
    inexact = np.zeros((rows, cols), dtype=bool)
    for i in range(rows):
        for j in range(cols):
            anchor = max(int(a_scales[i, t]) + int(b_scales[t, j]) - 254
                         for t in range(a_scales.shape[1]))
            exp[i, j] = anchor - 2 - frac_bits
            unit = Fraction(2) ** int(exp[i, j])
            parts = [v / unit for v in values[i][j]]
            acc[i, j] = sum(math.floor(p) for p in parts)
            inexact[i, j] = any(p.denominator != 1 for p in parts)
    return acc, exp, inexact


@pytest.mark.parametrize("seed", SEEDS)
def test_wide_window_is_exact(seed):
    """Scale exponents within 24 of each other and frac_bits = 24: nothing is shifted out."""
    ops = _operands(seed, 4, 256, 3, 115, 127)
    got = gemm_mxfp4(*ops, frac_bits=24)
    values = block_values(*ops)
    exact = [[sum(v) for v in row] for row in values]
    value = [[Fraction(int(a)) * Fraction(2) ** int(e) for a, e in zip(ra, re)]
             for ra, re in zip(got.acc, got.exp)]
    assert value == exact, f"seed {seed}"
    assert not got.inexact.any() and not got.nan.any()
    assert np.array_equal(mx_gemm_values(got), np.array(exact, dtype=np.float64)), f"seed {seed}"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("frac_bits", [0, 3, 16])
def test_narrow_window_truncates_each_block_down(seed, frac_bits):
    """Scale exponents spread over 0..254: blocks shifted partly or wholly out of the window."""
    ops = _operands(seed, 3, 320, 4, 0, 254)
    ops[1][0, 0], ops[3][0, 0] = 254, 254          # one output anchored at 2^254
    got = gemm_mxfp4(*ops, frac_bits=frac_bits)
    values = block_values(*ops)
    acc, exp, inexact = window_reference(values, ops[1], ops[3], frac_bits)
    assert [[int(v) for v in r] for r in got.acc] == acc.tolist(), f"seed {seed}"
    assert np.array_equal(got.exp, exp) and np.array_equal(got.inexact, inexact), f"seed {seed}"
    assert inexact.any(), "the spread must shift bits out"
    for i in range(3):
        for j in range(4):
            err = sum(values[i][j]) - int(acc[i, j]) * Fraction(2) ** int(exp[i, j])
            assert 0 <= err < 10 * Fraction(2) ** int(exp[i, j]), f"seed {seed}, ({i}, {j})"


def test_anchor_comes_from_the_scales_alone():
    """A block of zero codes with the largest scale still anchors the window (the hardware knows
    the scales before the data), so the other blocks lose their low bits."""
    ops = _operands(8, 2, 64, 2, 120, 127)
    ops[0][:, :32] = 0
    ops[1][:, 0] = 160
    got = gemm_mxfp4(*ops, frac_bits=8)
    anchor = 160 + ops[3][0].astype(np.int64) - 254
    assert np.array_equal(got.exp, np.broadcast_to(anchor - 2 - 8, (2, 2)))
    values = block_values(*ops)
    acc, _, inexact = window_reference(values, ops[1], ops[3], 8)
    assert got.acc.tolist() == acc.tolist() and np.array_equal(got.inexact, inexact)


def test_nan_scales_reach_only_their_outputs():
    ops = _operands(5, 4, 64, 4, 100, 140)
    ops[1][2, 1] = 0xFF
    ops[3][0, 3] = 0xFF
    got = gemm_mxfp4(*ops)
    want = np.zeros((4, 4), dtype=bool)
    want[2, :] = want[:, 3] = True
    assert np.array_equal(got.nan, want) and not got.acc[want].any()
    values = mx_gemm_values(got)
    assert np.isnan(values[want]).all() and np.isfinite(values[~want]).all()


def test_accumulator_width_is_reached():
    """All codes +6 and equal scales: every block sum is 4608, the accumulator's top value."""
    k = 128
    a = np.full((1, k), 7, np.uint8)
    b = np.full((k, 1), 7, np.uint8)
    scales = np.full((1, k // 32), 127, np.uint8)
    got = gemm_mxfp4(a, scales, b, scales.T, frac_bits=FRAC_BITS)
    assert int(got.acc[0, 0]) == (k // 32) * 4608 << FRAC_BITS
    assert int(got.acc[0, 0]).bit_length() + 1 == mx_acc_width(k, FRAC_BITS)
    assert BLOCK_SUM_BITS == 14 and mx_acc_width(4096, 16) == 14 + 7 + 16


def test_quantized_tensors_multiply_exactly():
    rng = np.random.default_rng(11)
    a = mxfp4_quantize(rng.standard_normal((3, 96)).astype(np.float32), axis=1)
    b = mxfp4_quantize(rng.standard_normal((96, 2)).astype(np.float32), axis=0)
    got = gemm_mxfp4(a.codes, a.scales, b.codes, b.scales)
    exact = [[sum(v) for v in row] for row in block_values(a.codes, a.scales, b.codes, b.scales)]
    assert mx_gemm_values(got).tolist() == [[float(v) for v in row] for row in exact]


@pytest.mark.parametrize("args, kwargs, words", [
    ((np.zeros((2, 48), np.uint8), np.zeros((2, 1), np.uint8), np.zeros((48, 2), np.uint8),
      np.zeros((1, 2), np.uint8)), {}, "K must be a positive multiple of 32, not 48"),
    ((np.zeros((2, 32), np.uint8), np.zeros((2, 1), np.uint8), np.zeros((64, 2), np.uint8),
      np.zeros((2, 2), np.uint8)), {}, "must agree"),
    ((np.zeros((2, 32), np.uint8), np.zeros((1, 2), np.uint8), np.zeros((32, 2), np.uint8),
      np.zeros((1, 2), np.uint8)), {}, "a_scales must have shape \\(2, 1\\)"),
    ((np.zeros((2, 32), np.uint8), np.zeros((2, 1), np.uint8), np.full((32, 2), 16),
      np.zeros((1, 2), np.uint8)), {}, "b_codes must hold 4-bit codes"),
    ((np.zeros((2, 32), np.uint8), np.zeros((2, 1), np.uint8), np.zeros((32, 2), np.uint8),
      np.full((1, 2), 256)), {}, "b_scales must hold 8-bit codes"),
    ((np.zeros((2, 32), np.uint8), np.zeros((2, 1), np.uint8), np.zeros((32, 2), np.uint8),
      np.zeros((1, 2), np.uint8)), {"frac_bits": FRAC_BITS_MAX + 1}, "frac_bits must be in 0..39"),
])
def test_errors_name_the_bad_value(args, kwargs, words):
    with pytest.raises(ValueError, match=words):
        gemm_mxfp4(*args, **kwargs)


# --------------------------------------------------------------------------- accuracy table


def accuracy_table(seeds=(1, 2, 3, 4), m=16, k=4096, n=16, frac_bits=(0, 4, 8, 12, 16, 20, 24)):
    """Error of the window (each frac_bits) and of FP32 accumulation of the exact block sums in
    K order, against the exact sum, on MXFP4-quantized Gaussian operands in which every block
    of 32 carries its own magnitude 2^U(-s, s): rows of markdown."""
    lines = ["| block magnitudes | accumulation | acc bits | max err / sum of block magnitudes | "
             "median err / exact magnitude | outputs inexact |", "|---|---|---|---|---|---|"]
    for spread in (0, 4, 8, 16):
        cases = []
        for seed in seeds:
            rng = np.random.default_rng(seed)
            gain_a = np.exp2(rng.uniform(-spread, spread, (m, k // 32))).repeat(32, axis=1)
            gain_b = np.exp2(rng.uniform(-spread, spread, (k // 32, n))).repeat(32, axis=0)
            x = [rng.standard_normal((m, k)) * gain_a, rng.standard_normal((k, n)) * gain_b]
            a = mxfp4_quantize(x[0].astype(np.float32), axis=1)
            b = mxfp4_quantize(x[1].astype(np.float32), axis=0)
            cases.append((a, b, _block_sums_exact(a, b)))
        rows = [("window", f, mx_acc_width(k, f)) for f in frac_bits] + [("FP32", None, 32)]
        for kind, f, bits in rows:
            worst, rel, inexact = 0.0, [], 0
            for a, b, (blocks, exact, size) in cases:
                if kind == "window":
                    got = gemm_mxfp4(a.codes, a.scales, b.codes, b.scales, frac_bits=f)
                    approx = [[Fraction(int(v)) * Fraction(2) ** int(e) for v, e in zip(ra, re)]
                              for ra, re in zip(got.acc, got.exp)]
                    inexact += int(got.inexact.sum())
                else:
                    approx = _fp32_sum(blocks)
                for i in range(m):
                    for j in range(n):
                        err = abs(approx[i][j] - exact[i][j])
                        worst = max(worst, float(err / size[i][j]))
                        rel.append(float(err / abs(exact[i][j])) if exact[i][j] else 0.0)
                        inexact += kind != "window" and err != 0
            name = f"window, frac_bits = {f}" if kind == "window" else "FP32, K order"
            lines.append(f"| 2^U(-{spread}, {spread}) | {name} | {bits} | {worst:.1e} | "
                         f"{np.median(rel):.1e} | {inexact} / {m * n * len(seeds)} |")
    return "\n".join(lines)


def _block_sums_exact(a, b):
    """Exact block values (Fractions, [i][j][t]), their sums and sums of magnitudes, by
    integer arithmetic on the decoded operands (float64 block sums of E2M1 values are exact)."""
    av, bv = e2m1_decode(a.codes), e2m1_decode(b.codes)
    m, k = av.shape
    sums = np.einsum("mtk,tkn->mtn", av.reshape(m, k // 32, 32), bv.reshape(k // 32, 32, -1))
    scale = e8m0_decode(a.scales)[:, :, None] * e8m0_decode(b.scales)[None, :, :]
    blocks = [[[Fraction(float(sums[i, t, j])) * Fraction(float(scale[i, t, j]))
                for t in range(k // 32)] for j in range(sums.shape[2])] for i in range(m)]
    exact = [[sum(row) for row in out] for out in blocks]
    size = [[sum(abs(v) for v in row) or Fraction(1) for row in out] for out in blocks]
    return blocks, exact, size


def _fp32_sum(blocks):
    out = []
    for row in blocks:
        out.append([])
        for parts in row:
            s = np.float32(0)
            for v in parts:
                s = np.float32(s + np.float32(float(v)))
            out[-1].append(Fraction(float(s)))
    return out


if __name__ == "__main__":
    sys.stdout.write(accuracy_table() + "\n")
