"""golden.fp8: the E4M3 table against ml_dtypes, the exact MAC against NumPy float32.

The references share nothing with the golden model: ml_dtypes' ``float8_e4m3fn`` decodes the
codes, and ``np.float32(acc) + np.float32(a) * np.float32(b)`` is the MAC (the product is
exact in float32, so NumPy rounds once, in the addition, to nearest even). NumPy propagates
NaN payloads where the golden model returns the canonical quiet NaN, so NaN is compared as a
class.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from golden.fp8 import E4M3_TABLE, MAX, NEG_ZERO, QNAN, decode, fp8_dot, fp8_mac_bits, mac_bits
from verif.lib.stimuli import FP32_EDGE_ACCS, random_f32_accs

CODES = np.arange(256)
#: Every code pair as two broadcastable columns: a down the rows, b along them.
A, B = CODES[:, None], CODES[None, :]


def f32(pattern: int) -> np.float32:
    return np.uint32(pattern).view(np.float32)


def numpy_mac(acc: int) -> np.ndarray:
    """``acc + a * b`` over every code pair in NumPy float32, NaNs made canonical."""
    values = CODES.astype(np.uint8).view(ml_dtypes.float8_e4m3fn).astype(np.float32)
    with np.errstate(all="ignore"):
        out = f32(acc) + values[:, None] * values[None, :]
    bits = out.view(np.uint32).copy()
    bits[np.isnan(out)] = QNAN
    return bits


def test_decode_every_code_equals_ml_dtypes():
    want = CODES.astype(np.uint8).view(ml_dtypes.float8_e4m3fn).astype(np.float32)
    assert np.array_equal(decode(CODES).view(np.uint32)[~np.isnan(want)],
                          want.view(np.uint32)[~np.isnan(want)])
    assert np.flatnonzero(np.isnan(decode(CODES))).tolist() == [0x7F, 0xFF]
    assert np.isnan(want).sum() == 2
    assert E4M3_TABLE[0x7E] == MAX and E4M3_TABLE[0x01] == 2.0 ** -9


def test_decode_refuses_non_codes():
    for bad in ([256], [-1], np.array([1.0])):
        with pytest.raises(ValueError):
            decode(bad)


@pytest.mark.parametrize("acc", FP32_EDGE_ACCS, ids=[f"{a:#010x}" for a in FP32_EDGE_ACCS])
def test_every_code_pair_on_edge_accumulators(acc):
    assert np.array_equal(fp8_mac_bits(acc, A, B), numpy_mac(acc))


def test_every_code_pair_on_random_accumulators(seed, full):
    rng = np.random.default_rng(seed)
    for acc in random_f32_accs(rng, 200 if full else 16):
        got, want = fp8_mac_bits(acc, A, B), numpy_mac(acc)
        bad = np.argwhere(got != want)
        assert bad.size == 0, (f"acc {acc:#010x}: {len(bad)} pairs differ, first a="
                               f"{bad[0][0]:#04x} b={bad[0][1]:#04x}")


@pytest.mark.parametrize("acc, a, b, want", [
    (0x00000000, 0x80, 0x38, 0x00000000),   # (+0) + (-0) * 1 = +0
    (0x80000000, 0x80, 0x38, 0x80000000),   # (-0) + (-0) * 1 = -0
    (0x80000000, 0x00, 0x38, 0x00000000),   # (-0) + (+0) * 1 = +0
    (0xBF800000, 0x38, 0x38, 0x00000000),   # -1 + 1 * 1 = +0
    (0x00000001, 0x00, 0x00, 0x00000001),   # smallest subnormal + 0 kept, no flush
    (0x7F7FFFFF, 0x7E, 0x7E, 0x7F7FFFFF),   # FLT_MAX + 448^2 stays finite
    (0xFF800000, 0x7E, 0x7E, 0xFF800000),   # -Inf + finite = -Inf
    (0xFFC00001, 0x38, 0x38, QNAN),         # NaN accumulator -> canonical NaN
    (0x3F800000, 0xFF, 0x00, QNAN),         # NaN code times zero -> NaN
    (0x4B800000, 0x38, 0x38, 0x4B800000),   # 2^24 + 1: tie, to even (down)
    (0x4B800001, 0x38, 0x38, 0x4B800002),   # (2^24 + 2) + 1: tie, to even (up)
    (0x80000000, 0x01, 0x01, 0x36800000),   # smallest product, 2^-18, exact
])
def test_directed(acc, a, b, want):
    assert mac_bits(acc, a, b) == want


def test_dot_starts_from_negative_zero_and_rounds_every_step():
    assert fp8_dot([0x80], [0x38]) == NEG_ZERO             # a single -0 product stays -0
    # 2^24 + 1 + 1: each step ties to even and drops the 1; the exact sum would be 2^24 + 2.
    assert fp8_dot([0x38, 0x38], [0x38, 0x38], init=0x4B800000) == 0x4B800000
    a, b = [0x38, 0x40, 0xD0], [0x38, 0x38, 0x38]          # 1 + 2 - 8
    assert f32(fp8_dot(a, b)) == np.float32(-5)
