"""golden.quant: SAWB, PACT and the pixel quantizer against hand-computed cases."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import golden.quant
from golden.formats import int4_decode
from golden.quant import (pact_backward, pact_quantize, pixel_quantize, round_half_even,
                          sawb_clip, sawb_quantize)


def test_doctests_pixel_worked_example():
    # pixel_quantize's doctest is the article's 0 -> -8, 1 -> 7, 0.3 -> -3.5 -> -4 example.
    result = doctest.testmod(golden.quant, raise_on_error=False, verbose=False)
    assert result.attempted >= 3 and result.failed == 0


def test_round_half_even_is_ties_to_even():
    assert round_half_even(np.array([0.5, 1.5, 2.5, -0.5, -1.5, 4.5, 4.4999])).tolist() == \
        [0, 2, 2, 0, -2, 4, 4]


def test_sawb_hand_case():
    w = np.array([0.0, 0.0, 0.0, 1.0])
    # sqrt(E[w^2]) = 0.5, E|w| = 0.25: a = 12.68 * 0.5 - 12.80 * 0.25 = 3.14, scale = a / 7.
    assert sawb_clip(w) == pytest.approx(3.14)
    q = sawb_quantize(w)
    assert q.scale == pytest.approx(3.14 / 7)
    assert int4_decode(q.codes).tolist() == [0, 0, 0, 2]      # 1 / 0.4486 = 2.23 -> 2


def test_sawb_clamps_to_symmetric_range_and_falls_back_to_max():
    w = np.array([1.0, -1.0, 2.0, -2.0])
    # a = 12.68 * sqrt(2.5) - 12.80 * 1.5 = 0.8487: everything clips to +-7, never -8.
    assert sawb_clip(w) == pytest.approx(12.68 * np.sqrt(2.5) - 19.2)
    assert int4_decode(sawb_quantize(w).codes).tolist() == [7, -7, 7, -7]
    # Constant magnitudes give a = 12.68 - 12.80 < 0: the clip falls back to max|w|.
    assert sawb_clip(np.array([0.5, -0.5])) == 0.5
    assert int4_decode(sawb_quantize(np.array([0.5, -0.5])).codes).tolist() == [7, -7]


def test_sawb_zero_and_bad_input():
    q = sawb_quantize(np.zeros(5))
    assert q.codes.tolist() == [0] * 5 and np.isfinite(q.scale)
    with pytest.raises(FloatingPointError):
        sawb_quantize(np.array([1.0, np.nan]))
    with pytest.raises(FloatingPointError):
        sawb_quantize(np.array([1.0, np.inf]))


def test_pact_hand_case():
    x = np.array([-1.0, 0.0, 0.1, 1.5, 2.9, 3.0, 4.0])
    q = pact_quantize(x, 3.0)
    # clip(x, 0, 3) * 15 / 3 = [0, 0, 0.5, 7.5, 14.5, 15, 15] -> ties to even.
    assert q.codes.tolist() == [0, 0, 0, 8, 14, 15, 15]
    assert q.codes.dtype == np.uint8 and q.scale == pytest.approx(0.2)
    dx, dalpha = pact_backward(x, 3.0, np.arange(1.0, 8.0))
    assert dx.tolist() == [0, 2, 3, 4, 5, 0, 0]             # passes where 0 <= x < alpha
    assert dalpha == 6 + 7                                  # sum where x >= alpha


def test_pact_errors():
    with pytest.raises(FloatingPointError):
        pact_quantize(np.array([np.nan]), 1.0)
    with pytest.raises(ValueError, match="alpha"):
        pact_quantize(np.array([1.0]), 0.0)
    with pytest.raises(ValueError, match="shape"):
        pact_backward(np.zeros(3), 1.0, np.zeros(4))
    with pytest.raises(FloatingPointError):
        pact_backward(np.zeros(2), 1.0, np.array([0.0, np.inf]))


def test_pixels():
    codes = pixel_quantize(np.linspace(0, 1, 16))
    assert codes.tolist() == list(range(16))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        pixel_quantize(np.array([1.5]))
    with pytest.raises(FloatingPointError):
        pixel_quantize(np.array([np.nan]))


def test_pact_backward_keeps_signed_zeros_and_dtype(seed):
    """dx is exactly np.where(0 <= x < alpha, g, 0): -0.0 passes where the gradient passes,
    every blocked element is +0.0, for float32 (the bitwise path) and float64 alike."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 6, (8, 50))
    for dtype in (np.float32, np.float64):
        g = rng.standard_normal(x.shape).astype(dtype)
        g[::3] = -0.0
        dx, dalpha = pact_backward(x.astype(dtype), 4.0, g)
        want = np.where((x >= 0) & (x < 4.0), g, 0).astype(dtype)
        assert dx.dtype == dtype and np.array_equal(dx.view(np.uint8), want.view(np.uint8))
        assert dalpha == float(np.sum(g, where=x >= 4.0, dtype=np.float64))
    # Nothing clipped: dalpha is +0.0.
    dx, dalpha = pact_backward(np.zeros((2, 3), np.float32), 1.0, np.ones((2, 3), np.float32))
    assert dalpha == 0.0 and np.copysign(1.0, dalpha) == 1.0 and dx.tolist() == [[1.0] * 3] * 2


def test_sawb_is_the_textbook_formula(seed):
    """sawb_quantize (in place, float64) against the formula written out plainly."""
    rng = np.random.default_rng(seed)
    for shape in ((128, 128), (32, 288), (10, 512), (16, 9), (3,)):
        w = (rng.standard_normal(shape) * rng.uniform(0.01, 1)).astype(np.float32)
        arr = w.astype(np.float64)
        clip = 12.68 * np.sqrt(np.mean(arr * arr)) - 12.80 * np.mean(np.abs(arr))
        clip = float(np.abs(arr).max()) if clip <= 0 else float(clip)
        codes = np.clip(np.rint(arr / (clip / 7)), -7, 7).astype(np.int8).view(np.uint8) & 0xF
        q = sawb_quantize(w)
        assert q.clip == clip and q.scale == clip / 7
        assert q.codes.dtype == np.uint8 and np.array_equal(q.codes, codes)


@pytest.mark.parametrize("call,match", [
    (lambda: pixel_quantize("abc"), "pixel input must be an array of real numbers"),
    (lambda: pixel_quantize(["0.5"]), "pixel input must be an array of real numbers"),
    (lambda: pact_quantize("abc", 4.0), "PACT input must be an array of real numbers"),
    (lambda: pact_quantize([[1, "a"]], 4.0), "PACT input must be an array of real numbers"),
    (lambda: pact_quantize(np.array([1 + 1j]), 4.0), "PACT input must be"),
])
def test_quantizers_name_an_input_that_is_not_numbers(call, match):
    with pytest.raises(TypeError, match=match):
        call()


@pytest.mark.parametrize("alpha", ["a", "4", None, [1.0, 2.0], float("nan"), -1.0, 0.0])
def test_pact_names_a_bad_alpha(alpha):
    with pytest.raises(ValueError, match="PACT alpha must be a positive finite number"):
        pact_quantize([1.0], alpha)
