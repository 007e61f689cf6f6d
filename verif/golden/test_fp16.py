"""golden.fp16: the exact integer FMA against an independent Fraction-based reference.

The reference shares nothing with the golden model but the IEEE rules: values become
``fractions.Fraction``, the exact result is located among all 63488 finite binary16 values by
bisection, and the nearer neighbour (ties to the even pattern) is taken.
"""

from __future__ import annotations

import bisect
import functools
import itertools
from fractions import Fraction

import numpy as np
import pytest

from golden.fp16 import QNAN, fp16_dot, fp16_fma, fp16_fma_bits
from verif.lib.stimuli import CLASS_PATTERNS, random_triples

@functools.cache
def _finite_table():
    """All non-negative finite binary16 values in increasing order, with their patterns."""
    pats = np.arange(0x7C00, dtype=np.uint16)
    return [Fraction(float(v)) for v in pats.view(np.float16)], [int(p) for p in pats]


def _reference(a: int, b: int, c: int) -> int:
    fa, fb, fc = (np.uint16(x).view(np.float16) for x in (a, b, c))
    if any(np.isnan(v) for v in (fa, fb, fc)):
        return QNAN
    if (np.isinf(fa) and fb == 0) or (np.isinf(fb) and fa == 0):
        return QNAN
    sign_p = (a ^ b) >> 15
    if np.isinf(fa) or np.isinf(fb):
        if np.isinf(fc) and (c >> 15) != sign_p:
            return QNAN
        return 0xFC00 if sign_p else 0x7C00
    if np.isinf(fc):
        return c
    exact = Fraction(float(fa)) * Fraction(float(fb)) + Fraction(float(fc))
    if exact == 0:
        return (sign_p << 15) if sign_p == (c >> 15) else 0
    values, pats = _finite_table()
    sign = 0x8000 if exact < 0 else 0
    mag = abs(exact)
    top = values[-1] + (values[-1] - values[-2]) / 2
    if mag >= top:
        return sign | 0x7C00
    i = bisect.bisect_left(values, mag)
    if i < len(values) and values[i] == mag:
        return sign | pats[i]
    lo, hi = values[i - 1], values[i] if i < len(values) else None
    if hi is None or mag - lo < hi - mag:
        return sign | pats[i - 1]
    if hi - mag < mag - lo:
        return sign | pats[i]
    return sign | (pats[i - 1] if pats[i - 1] % 2 == 0 else pats[i])


def test_every_class_combination():
    triples = np.array(list(itertools.product(CLASS_PATTERNS, repeat=3)), dtype=np.uint16)
    got = fp16_fma_bits(triples[:, 0], triples[:, 1], triples[:, 2])
    want = [_reference(*map(int, t)) for t in triples]
    assert got.tolist() == want


@pytest.mark.parametrize("kind", ["uniform", "near", "tiny"])
def test_random_against_fraction_reference(seed, full, kind):
    rng = np.random.default_rng(seed)
    a, b, c = random_triples(rng, 200_000 if full else 4_000, kind)
    got = fp16_fma_bits(a, b, c)
    want = [_reference(int(x), int(y), int(z)) for x, y, z in zip(a, b, c)]
    assert got.tolist() == want


@pytest.mark.parametrize("a, b, c, want", [
    (0x3C00, 0x3C00, 0xBC00, 0x0000),   # 1 * 1 + (-1) = +0
    (0x8000, 0x3C00, 0x8000, 0x8000),   # (-0) * 1 + (-0) = -0
    (0x0000, 0x3C00, 0x8000, 0x0000),   # (+0) + (-0) = +0
    (0x7C00, 0x0000, 0x3C00, QNAN),     # inf * 0 is invalid
    (0x7C00, 0x3C00, 0xFC00, QNAN),     # inf - inf is invalid
    (0x7BFF, 0x4000, 0x0000, 0x7C00),   # overflow rounds to infinity
    (0x0001, 0x3800, 0x0000, 0x0000),   # 2^-25 ties to even: +0
    (0x0001, 0x3E00, 0x0000, 0x0002),   # 1.5 * 2^-24 rounds up to 2^-23
    (0x7C01, 0x3C00, 0x3C00, QNAN),     # signalling NaN -> canonical quiet NaN
])
def test_documented_cases(a, b, c, want):
    assert int(fp16_fma_bits(a, b, c)) == want


def test_single_rounding_differs_from_float32_path():
    # (1 + 2^-10)^2 - (1 + 2^-9) = 2^-20 exactly; multiply-then-add rounds the product to
    # 1 + 2^-9 first and returns 0.
    a = np.array([1 + 2 ** -10], np.float16)
    got = fp16_fma(a, a, np.array([-(1 + 2 ** -9)], np.float16))
    assert float(got[0]) == 2 ** -20
    assert float(np.float16(a[0] * a[0]) - np.float16(1 + 2 ** -9)) == 0


def test_dot_starts_from_negative_zero():
    assert int(np.float16(fp16_dot([-0.0], [1.0])).view(np.uint16)) == 0x8000
    assert float(fp16_dot([1.0, 2.0], [3.0, 4.0])) == 11.0


def test_rejects_wider_floats():
    with pytest.raises(TypeError, match="float16"):
        fp16_fma(np.float32(1), np.float16(1), np.float16(1))
