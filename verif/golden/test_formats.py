"""Self-tests of golden/formats.py against formulations written independently of it.

golden/formats.py quantizes on the FP16 *fields* (exponent logic plus mantissa bits), exactly as
the hardware lane does. The references here never look at fields: they decode every FP16 value
to float64, scale it by 2^(g+p), and apply docs/numerics.md section 3.1 literally on that real
number (thresholds 2.5 * 4^j, 4^-3 / 2 and 64; probabilities (y - L) / 3L and y / 4^-3).

Why float64 is exact for the references: an FP16 value has at most 11 significant bits and
lies within 2^-24 .. 2^16, and g + p is within -128 .. 128, so y = |x| * 2^(g+p) lies within
2^-152 .. 2^144 -- far inside float64's normal range -- and ``np.ldexp`` only moves the exponent.
Every threshold (2.5 * 4^j, 2^-7, 64) has two significant bits. For L <= y < 4L, y - L is a
multiple of y's ulp (>= L * 2^-10) below 4L, so it has at most 12 significant bits; r * 3L and
(y - L) * 2^16 (r < 2^16) then have at most 18 and 12 bits. No operation rounds, so every
comparison is the comparison of the real numbers. A few thousand ``fractions.Fraction`` samples
check the same rules once more without any float at all.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from golden.formats import (
    DEFAULT_SEED,
    FORMATS,
    SCALE_EXP_MAX,
    SCALE_EXP_MIN,
    grad_scale_exp,
    int4_decode,
    int4_encode,
    r4_decode,
    r4_quantize,
    r4_shift,
    to_fp16,
    uint4_decode,
    uint4_encode,
    xorshift32_step,
    xorshift32_stream,
)
from golden.fp4 import e2m1_decode

#: Every FP16 bit pattern, as float16 values (C order = pattern order).
ALL_FP16 = np.arange(2 ** 16, dtype=np.uint16).view(np.float16)
FINITE_POSITIVE_FP16 = ALL_FP16[np.isfinite(ALL_FP16) & (ALL_FP16 > 0)]

#: Scale exponents for the exhaustive sweeps: the register extremes, and every g where the R4
#: grid crosses the FP16 subnormal range (y = 2^-7 at x = 2^-24 .. 2^-14 is g + p = 17 .. 7),
#: FP16's largest value (x = 65504 crosses y = 64 at g + p = -10), and around 0.
SCALE_EXPS = (SCALE_EXP_MIN, -40, -12, -11, -10, -9, -8, -4, -1, 0, 1, 2, 5, 6, 7, 8, 12, 15,
              16, 17, 18, 19, 24, 40, SCALE_EXP_MAX)

LEVEL_JS = range(-3, 3)         # the levels L = 4^j that have a level 4L above them


def _y(x16: np.ndarray, phase: int, g: int) -> np.ndarray:
    """|x| * 2^(g + phase) in float64 (exact, see the module docstring); NaN/Inf become 0."""
    v = x16.astype(np.float64)
    return np.ldexp(np.abs(np.where(np.isfinite(v), v, 0.0)), g + phase)


def _codes_from_levels(x16: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Level index k (0: zero, 1..7: 4^(k-4)) and the sign of x -> R4 code; Inf -> +-max."""
    v = x16.astype(np.float64)
    k = np.where(np.isinf(v), 7, np.where(np.isnan(v), 0, k))
    return np.where(k > 0, (np.signbit(v).astype(np.int64) << 3) | k, 0).astype(np.uint8)


def reference_nearest(x16: np.ndarray, phase: int, g: int):
    """Nearest rule of numerics.md 3.1 on the real value y: codes, invalid and saturated masks."""
    y = _y(x16, phase, g)
    k = np.where(y >= 4.0 ** -3 / 2, 1, 0)
    for j in LEVEL_JS:
        lv = 4.0 ** j
        inside = (y >= lv) & (y < 4 * lv)
        k = np.where(inside, np.where(y >= 2.5 * lv, j + 5, j + 4), k)
    k = np.where(y >= 64, 7, k)
    v = x16.astype(np.float64)
    invalid = ~np.isfinite(v)
    saturated = np.isfinite(v) & (y > 64)
    return _codes_from_levels(x16, k), invalid, saturated


def reference_stochastic(x16: np.ndarray, phase: int, g: int, draws16: np.ndarray) -> np.ndarray:
    """Stochastic rule of numerics.md 3.1, draw r: up iff r / 2^16 < P(up), compared exactly."""
    y = _y(x16, phase, g)
    r = draws16.astype(np.float64)
    k = np.where(r * 4.0 ** -3 < y * 2 ** 16, 1, 0)          # below 4^-3: P = y / 4^-3
    for j in LEVEL_JS:
        lv = 4.0 ** j
        inside = (y >= lv) & (y < 4 * lv)
        up = r * (3 * lv) < (y - lv) * 2 ** 16                 # P = (y - L) / 3L
        k = np.where(inside, np.where(up, j + 5, j + 4), k)
    k = np.where(y >= 64, 7, k)
    k = np.where(y == 0, 0, k)
    return _codes_from_levels(x16, k)


def fp16(v) -> np.ndarray:
    return np.asarray(v, dtype=np.float16)


# --------------------------------------------------------------------------- nearest


@pytest.mark.parametrize("phase", (0, 1))
@pytest.mark.parametrize("g", SCALE_EXPS)
def test_nearest_all_fp16_match_linear_reference(phase, g):
    got = r4_quantize(ALL_FP16, phase=phase, scale_exp=g, flags=True)
    codes, invalid, saturated = reference_nearest(ALL_FP16, phase, g)
    np.testing.assert_array_equal(got.codes, codes)
    np.testing.assert_array_equal(got.invalid, invalid)
    np.testing.assert_array_equal(got.saturated, saturated)
    np.testing.assert_array_equal(r4_quantize(ALL_FP16, phase=phase, scale_exp=g), codes)
    assert not np.any(got.codes == 0b1000)


def _nearest_fraction(y: Fraction) -> Fraction:
    """The nearest of {0, 4^-3 .. 4^3} to y >= 0, ties to the larger; y > 64 saturates."""
    levels = [Fraction(0)] + [Fraction(4) ** j for j in range(-3, 4)]
    return min(levels, key=lambda lv: (abs(y - lv), -lv))


def test_nearest_matches_exact_rational_nearest(seed):
    rng = np.random.default_rng(seed)
    finite = np.flatnonzero(np.isfinite(ALL_FP16))
    for p in (0, 1):
        for g in range(-14, 24, 2):
            x = ALL_FP16[rng.choice(finite, size=80)]
            got = r4_decode(r4_quantize(x, phase=p, scale_exp=g), phase=p, scale_exp=g)
            for xi, gi in zip(x, got):
                y = abs(Fraction(float(xi))) * Fraction(2) ** (g + p)
                assert abs(Fraction(float(gi))) * Fraction(2) ** (g + p) == _nearest_fraction(y), \
                    (float(xi), p, g)


@pytest.mark.parametrize("phase", (0, 1))
@pytest.mark.parametrize("g", (0, 3, -2))
def test_nearest_ties_round_up_and_just_below_rounds_down(phase, g):
    for j in LEVEL_JS:
        tie = fp16(2.5 * 4.0 ** j * 2.0 ** -(g + phase))
        assert float(tie) == 2.5 * 4.0 ** j * 2.0 ** -(g + phase)   # exactly representable
        below = np.nextafter(tie, fp16(0))
        above = np.nextafter(tie, fp16(np.inf))
        e_lo = j + 4                                                # field of level L = 4^j
        assert r4_quantize(tie, phase=phase, scale_exp=g) == e_lo + 1
        assert r4_quantize(above, phase=phase, scale_exp=g) == e_lo + 1
        assert r4_quantize(below, phase=phase, scale_exp=g) == e_lo
        assert r4_quantize(-tie, phase=phase, scale_exp=g) == 0b1000 | (e_lo + 1)
        assert r4_quantize(-below, phase=phase, scale_exp=g) == 0b1000 | e_lo
        # Within [L, 2L) everything rounds down, even the value just below 2L.
        assert r4_quantize(np.nextafter(fp16(2 * 4.0 ** j * 2.0 ** -(g + phase)), fp16(0)),
                           phase=phase, scale_exp=g) == e_lo


@pytest.mark.parametrize("phase", (0, 1))
def test_nearest_bottom_of_range(phase):
    half = fp16(4.0 ** -3 / 2 * 2.0 ** -phase)            # y = 4^-3 / 2 exactly
    assert r4_quantize(half, phase=phase) == 0b0001
    assert r4_quantize(-half, phase=phase) == 0b1001
    assert r4_quantize(np.nextafter(half, fp16(0)), phase=phase) == 0
    assert r4_quantize(-np.nextafter(half, fp16(0)), phase=phase) == 0   # -tiny -> +0 code


@pytest.mark.parametrize("phase", (0, 1))
@pytest.mark.parametrize("g", (0, -9, 4))
def test_nearest_top_of_range_and_saturated_flag(phase, g):
    top = fp16(64.0 * 2.0 ** -(g + phase))
    res = r4_quantize(np.array([top, -top]), phase=phase, scale_exp=g, flags=True)
    assert list(res.codes) == [0b0111, 0b1111]
    assert not res.saturated.any() and not res.invalid.any()
    over = np.nextafter(top, fp16(np.inf))
    res = r4_quantize(np.array([over, -over]), phase=phase, scale_exp=g, flags=True)
    assert list(res.codes) == [0b0111, 0b1111]
    assert res.saturated.all() and not res.invalid.any()
    big = fp16(65504.0)
    res = r4_quantize(big, phase=phase, scale_exp=g, flags=True)
    assert res.codes == 0b0111 and bool(res.saturated) == (65504.0 * 2.0 ** (g + phase) > 64)


def test_saturated_flag_never_set_at_or_below_64():
    for phase in (0, 1):
        for g in SCALE_EXPS:
            res = r4_quantize(ALL_FP16, phase=phase, scale_exp=g, flags=True)
            y = _y(ALL_FP16, phase, g)
            assert not res.saturated[y <= 64].any()
            assert not res.saturated[~np.isfinite(ALL_FP16)].any()


@pytest.mark.parametrize("rounding", ("nearest", "stochastic"))
@pytest.mark.parametrize("g", (SCALE_EXP_MIN, 0, SCALE_EXP_MAX))
def test_zeros_nan_inf(rounding, g):
    nans = np.array([0x7E00, 0x7C01, 0x7FFF, 0xFE00, 0xFC01], dtype=np.uint16).view(np.float16)
    x = np.concatenate([fp16([0.0, -0.0, np.inf, -np.inf]), nans])
    for phase in (0, 1):
        res = r4_quantize(x, phase=phase, scale_exp=g, rounding=rounding, flags=True)
        assert list(res.codes) == [0, 0, 0b0111, 0b1111] + [0] * nans.size
        assert list(res.invalid) == [False, False] + [True] * (2 + nans.size)
        assert not res.saturated.any()


@pytest.mark.parametrize("phase", (0, 1))
def test_subnormals(phase):
    tiny = np.array([0x0001], dtype=np.uint16).view(np.float16)      # 2^-24
    largest_sub = np.array([0x03FF], dtype=np.uint16).view(np.float16)  # (1023/1024) 2^-14
    # y = 2^-24 * 2^(g+p): 2^-7 (the 4^-3 / 2 tie, rounds up) at g + p = 17, 2^-8 at 16.
    assert r4_quantize(tiny, phase=phase, scale_exp=17 - phase) == 0b0001
    assert r4_quantize(tiny, phase=phase, scale_exp=16 - phase) == 0
    assert r4_quantize(-tiny, phase=phase, scale_exp=18 - phase) == 0b1001
    # 2^-24 at g + p = 23 is y = 2^-1, i.e. 2 * 4^-1: level 4^-1 (field 3), never past it.
    assert r4_quantize(tiny, phase=phase, scale_exp=23 - phase) == 3
    # The largest subnormal is just below 2^-14: at g + p = 7 it is just below 2^-7 -> 0.
    assert r4_quantize(largest_sub, phase=phase, scale_exp=7 - phase) == 0
    assert r4_quantize(largest_sub, phase=phase, scale_exp=8 - phase) == 0b0001
    # 3 * 2^-24 at g + p = 21 is y = 0.375 = 1.5 * 4^-1, inside [L, 2L): down to 4^-1.
    three = np.array([0x0003], dtype=np.uint16).view(np.float16)
    assert r4_quantize(three, phase=phase, scale_exp=21 - phase) == 3


# Hand-written: field e -> magnitude 2^(2e - 8 - p) at scale exponent 0.
R4_TABLE = {
    0: {0b000: 0.0, 0b001: 2.0 ** -6, 0b010: 2.0 ** -4, 0b011: 2.0 ** -2, 0b100: 1.0,
        0b101: 4.0, 0b110: 16.0, 0b111: 64.0},
    1: {0b000: 0.0, 0b001: 2.0 ** -7, 0b010: 2.0 ** -5, 0b011: 2.0 ** -3, 0b100: 0.5,
        0b101: 2.0, 0b110: 8.0, 0b111: 32.0},
}


@pytest.mark.parametrize("phase", (0, 1))
def test_decode_all_codes_against_table(phase):
    expected = [R4_TABLE[phase][c & 7] * (-1 if c & 8 else 1) for c in range(16)]
    got = r4_decode(np.arange(16), phase=phase)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, expected)
    assert got[0b1000] == 0 and got[0] == 0
    for g in (SCALE_EXP_MIN, -3, 5, SCALE_EXP_MAX):
        np.testing.assert_array_equal(r4_decode(np.arange(16), phase=phase, scale_exp=g),
                                      np.ldexp(np.array(expected), -g))


@pytest.mark.parametrize("rounding", ("nearest", "stochastic"))
@pytest.mark.parametrize("phase", (0, 1))
@pytest.mark.parametrize("g", (-10, 0, 7, 20))
def test_on_grid_values_round_trip(rounding, phase, g):
    codes = np.array([c for c in range(16) if c != 0b1000] * 50, dtype=np.uint8)
    with np.errstate(over="ignore"):                        # off-range levels become Inf
        values = r4_decode(codes, phase=phase, scale_exp=g).astype(np.float16)
    representable = values.astype(np.float64) == r4_decode(codes, phase=phase, scale_exp=g)
    seed = 12345 if rounding == "stochastic" else None
    got = r4_quantize(values, phase=phase, scale_exp=g, rounding=rounding, seed=seed)
    np.testing.assert_array_equal(got[representable], codes[representable])
    assert representable.sum() >= 50 * 9


def test_r4_shift_matches_decode():
    for phase in (0, 1):
        c = np.arange(16)
        shift = r4_shift(c, phase=phase)
        mag = np.abs(r4_decode(c, phase=phase)) * 2 ** 7         # in units of 2^-7
        nz = (c & 7) > 0
        np.testing.assert_array_equal(np.ldexp(1.0, shift[nz]), mag[nz])
        assert (shift[~nz] == 0).all() and shift.min() >= 0 and shift.max() <= 13
    assert FORMATS["r4"].max_value == 2 ** int(r4_shift(7, phase=0))
    assert FORMATS["r4"].min_value == -FORMATS["r4"].max_value


def test_format_table_grids_are_the_codecs():
    """Each format's value grid is what its decoder gives, and its range bounds the grid."""
    c = np.arange(16)
    decoders = {"int4": int4_decode, "uint4": uint4_decode,
                "r4": lambda codes, phase: r4_decode(codes, phase=phase),
                "e2m1": e2m1_decode}
    assert set(decoders) == set(FORMATS)
    for name, spec in FORMATS.items():
        assert spec.name == name and spec.bits == 4
        for phase in (0, 1):
            want = (decoders[name](c, phase) if spec.phased else decoders[name](c))
            np.testing.assert_array_equal(np.ldexp(spec.grid(phase), spec.unit_exp), want)
            assert spec.grid(phase).dtype == np.int64
        assert (spec.min_value, spec.max_value) == (spec.grid().min(), spec.grid().max())
        assert spec.signed == (spec.min_value < 0)


def test_format_table_drives_the_hardware_codes():
    from hdl.modes import AFormat, BFormat
    from golden.format_table import A_FORMATS, B_FORMATS, GEMM_MODES, format_of

    assert {m.name.lower(): m.value for m in AFormat} == {f: format_of(f).a_code for f in A_FORMATS}
    assert {m.name.lower(): m.value for m in BFormat} == {f: format_of(f).b_code for f in B_FORMATS}
    assert A_FORMATS == ("int4", "uint4") and B_FORMATS == ("int4", "uint4", "r4")
    assert len(GEMM_MODES) == 8 and ("uint4", "r4", 1) in GEMM_MODES
    for role in ("a", "b"):
        with pytest.raises(ValueError, match=f"{role}_format must be one of"):
            format_of("fp4", role)
    with pytest.raises(ValueError, match="a_format must be one of"):
        format_of("r4", "a")


def test_int4_uint4_codes():
    c = np.arange(16)
    np.testing.assert_array_equal(int4_decode(c), [0, 1, 2, 3, 4, 5, 6, 7,
                                                   -8, -7, -6, -5, -4, -3, -2, -1])
    np.testing.assert_array_equal(uint4_decode(c), c)
    np.testing.assert_array_equal(int4_encode(int4_decode(c)), c)
    np.testing.assert_array_equal(uint4_encode(c), c)
    for name, dec in (("int4", int4_decode), ("uint4", uint4_decode)):
        fmt = FORMATS[name]
        assert (fmt.min_value, fmt.max_value) == (int(dec(c).min()), int(dec(c).max()))
    for bad in (-9, 8):
        with pytest.raises(ValueError):
            int4_encode([bad])
    for bad in (-1, 16):
        with pytest.raises(ValueError):
            uint4_encode([bad])
        with pytest.raises(ValueError):
            int4_decode([bad])
    for enc in (int4_encode, uint4_encode, int4_decode, uint4_decode, r4_decode):
        with pytest.raises(TypeError):
            enc(np.array([1.0]))


# --------------------------------------------------------------------------- stochastic


@pytest.mark.parametrize("phase", (0, 1))
@pytest.mark.parametrize("g", (SCALE_EXP_MIN, -10, 0, 7, 17, SCALE_EXP_MAX))
def test_stochastic_all_fp16_match_linear_reference(phase, g):
    seed = 0x1234567 + 97 * g + phase
    draws16 = xorshift32_stream(seed, ALL_FP16.size) >> 16
    got = r4_quantize(ALL_FP16, phase=phase, scale_exp=g, rounding="stochastic", seed=seed,
                      flags=True)
    np.testing.assert_array_equal(got.codes, reference_stochastic(ALL_FP16, phase, g, draws16))
    _, invalid, saturated = reference_nearest(ALL_FP16, phase, g)
    np.testing.assert_array_equal(got.invalid, invalid)
    np.testing.assert_array_equal(got.saturated, saturated)
    assert not np.any(got.codes == 0b1000)


def test_stochastic_matches_exact_rational_rule(seed):
    rng = np.random.default_rng(seed)
    patterns = rng.choice(np.flatnonzero(np.isfinite(ALL_FP16)), size=2000)
    x = ALL_FP16[patterns]
    phase, g, s = 1, 9, int(rng.integers(1, 2 ** 32))
    codes = r4_quantize(x, phase=phase, scale_exp=g, rounding="stochastic", seed=s)
    draws16 = xorshift32_stream(s, x.size) >> 16
    levels = [Fraction(0)] + [Fraction(4) ** j for j in range(-3, 4)]
    for xi, r, code in zip(x, draws16, codes):
        y = abs(Fraction(float(xi))) * Fraction(2) ** (g + phase)
        if y >= 64:
            want = Fraction(64)
        else:
            lo = max(lv for lv in levels if lv <= y)
            hi = min(lv for lv in levels if lv > y)
            want = hi if Fraction(int(r), 2 ** 16) < (y - lo) / (hi - lo) else lo
        got = abs(Fraction(float(r4_decode(code, phase=phase, scale_exp=g)))) * 2 ** (g + phase)
        assert got == want, (float(xi), int(r))


@pytest.mark.parametrize("phase", (0, 1))
def test_stochastic_draw_equal_to_threshold_rounds_down(phase):
    """Place x exactly where P(up) * 2^16 equals its own draw r: r < P * 2^16 is false there.

    Below range P * 2^16 = y * 2^22, so y = r * 2^-22; in range P * 2^16 = (y/L - 1) * 2^16 / 3,
    so y = L * (1 + 3 r / 2^16). Elements alternate between the two regions (and all six L);
    wherever FP16 holds that y exactly the code must be the lower level, one FP16 step above it
    the upper level. Random draws almost never land on these boundaries, so this test is what
    pins ``<`` (not ``<=``) in both comparisons.
    """
    n, seed, g = 1 << 16, 0xC0FFEE, -2 - phase
    r = (xorshift32_stream(seed, n) >> 16).astype(np.float64)
    i = np.arange(n)
    lv = 4.0 ** (i // 2 % 6 - 3)
    y = np.where(i % 2 == 0, r * 2.0 ** -22, lv * (1 + 3 * r / 2 ** 16))
    x = np.ldexp(y, -(g + phase)).astype(np.float16)
    exact = (np.ldexp(x.astype(np.float64), g + phase) == y) & (r > 0)
    assert exact[i % 2 == 0].sum() > 2000 and exact[i % 2 == 1].sum() > 200
    for xs, want_up in ((x, False), (np.nextafter(x, np.float16(np.inf)), True)):
        codes = r4_quantize(xs, phase=phase, scale_exp=g, rounding="stochastic", seed=seed)
        draws16 = xorshift32_stream(seed, n) >> 16
        np.testing.assert_array_equal(codes, reference_stochastic(xs, phase, g, draws16))
        mag = np.abs(r4_decode(codes, phase=phase, scale_exp=g)) * 2.0 ** (g + phase)
        lo, hi = _neighbours(_y(x, phase, g))
        np.testing.assert_array_equal(mag[exact], (hi if want_up else lo)[exact])


def test_stochastic_reproducible_and_seed_dependent():
    x = np.random.default_rng(5).standard_normal(4096).astype(np.float16)
    a = r4_quantize(x, rounding="stochastic", seed=77, scale_exp=3)
    np.testing.assert_array_equal(a, r4_quantize(x, rounding="stochastic", seed=77, scale_exp=3))
    b = r4_quantize(x, rounding="stochastic", seed=78, scale_exp=3)
    assert (a != b).sum() > 100
    np.testing.assert_array_equal(r4_quantize(x, rounding="stochastic", scale_exp=3),
                                  r4_quantize(x, rounding="stochastic", seed=DEFAULT_SEED,
                                              scale_exp=3))
    assert DEFAULT_SEED == 0x9E3779B9


def test_stochastic_one_draw_per_element_in_c_order():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((37, 53)).astype(np.float16)
    flat = r4_quantize(x.ravel(), rounding="stochastic", seed=99)
    np.testing.assert_array_equal(r4_quantize(x, rounding="stochastic", seed=99),
                                  flat.reshape(x.shape))
    xf = np.asfortranarray(x)
    np.testing.assert_array_equal(r4_quantize(xf, rounding="stochastic", seed=99),
                                  flat.reshape(x.shape))
    for n in (1, 100, 1023, 1024, 1025):                  # a prefix consumes a prefix of draws
        np.testing.assert_array_equal(r4_quantize(x.ravel()[:n], rounding="stochastic", seed=99),
                                      flat[:n])
    # Zero, NaN, Inf and saturating elements still consume their draw.
    special = x.ravel().copy()
    idx = np.arange(0, special.size, 7)
    special[idx] = np.resize(fp16([0.0, np.nan, np.inf, -0.0, 60000.0]), idx.size)
    got = r4_quantize(special, rounding="stochastic", seed=99)
    keep = np.ones(special.size, dtype=bool)
    keep[idx] = False
    np.testing.assert_array_equal(got[keep], flat[keep])


def _neighbours(y: np.ndarray):
    """The grid levels just below and just above y in [0, 64], as float64 arrays."""
    levels = np.array([0.0] + [4.0 ** j for j in range(-3, 4)])
    k = np.searchsorted(levels, y, side="right") - 1
    return levels[k], levels[np.minimum(k + 1, levels.size - 1)]


@pytest.mark.parametrize("phase", (0, 1))
def test_stochastic_results_are_neighbouring_levels(phase):
    x = ALL_FP16[np.isfinite(ALL_FP16)]
    for g in (-5, 0, 10):
        got = r4_quantize(x, phase=phase, scale_exp=g, rounding="stochastic", seed=31 + g)
        mag = np.abs(r4_decode(got, phase=phase, scale_exp=g)) * 2.0 ** (g + phase)
        y = np.minimum(_y(x, phase, g), 64.0)
        lo, hi = _neighbours(y)
        assert ((mag == lo) | (mag == hi)).all()
        sign_ok = (got == 0) | ((got >> 3) == np.signbit(x))
        assert sign_ok.all()


@pytest.mark.parametrize("phase", (0, 1))
@pytest.mark.parametrize("g", (0, 6))
def test_stochastic_unbiased(phase, g, seed):
    """The mean of N decoded samples equals x within 6 sigma plus the draw-resolution bias.

    For x between neighbouring levels lo < hi the hardware rounds up iff r < P * 2^16 with r a
    16-bit draw, so it rounds up with probability q = ceil(P * 2^16) / 2^16, and
    0 <= q - P < 2^-16. The sample mean of the decoded values is lo + (hi - lo) * q_hat with
    standard deviation (hi - lo) * sqrt(q (1 - q) / N), so
    |mean - x| <= (hi - lo) * (6 sqrt(q (1 - q) / N) + 2^-16).
    """
    n = 40000
    ys = np.array([1.1, 1.9, 2.5, 3.3, 3.9, 0.3, 0.01, 4.0 ** -3 * 0.3, 4.0 ** -3 * 0.9,
                   4.0 ** -3 * 1.5, 17.0, 50.0, 63.9, 4.0 ** -5])
    x = (ys * 2.0 ** -(g + phase)).astype(np.float16)
    s = seed % (2 ** 32 - 1) + 1
    codes = r4_quantize(np.repeat(x[:, None], n, axis=1), phase=phase, scale_exp=g,
                        rounding="stochastic", seed=s)
    mean = r4_decode(codes, phase=phase, scale_exp=g).mean(axis=1)
    xv = x.astype(np.float64)
    lo, hi = (v * 2.0 ** -(g + phase) for v in _neighbours(_y(x, phase, g)))
    p = (xv - lo) / (hi - lo)
    q = np.ceil(p * 2 ** 16) / 2 ** 16
    bound = (hi - lo) * (6 * np.sqrt(q * (1 - q) / n) + 2.0 ** -16)
    assert (np.abs(mean - xv) <= bound).all(), (mean - xv, bound)
    assert (bound < 0.15 * xv).all()                        # the test is not vacuous


# --------------------------------------------------------------------------- random generator


def _python_stream(seed: int, n: int) -> list[int]:
    out, s = [], seed
    for _ in range(n):
        s = xorshift32_step(s)
        out.append(s)
    return out


def test_xorshift32_known_value():
    # Marsaglia, "Xorshift RNGs" (2004): y = 2463534242 with shifts 13, 17, 5 gives 723471715.
    assert xorshift32_step(2463534242) == 723471715
    assert xorshift32_stream(2463534242, 1)[0] == 723471715


@pytest.mark.parametrize("n", (0, 1, 2, 1023, 1024, 1025, 2048, 2049, 3500))
def test_xorshift32_stream_equals_python_loop(n, seed):
    rng = np.random.default_rng(seed)
    seeds = [1, 2 ** 32 - 1, DEFAULT_SEED, 0x80000000] + [int(s) for s in
                                                         rng.integers(1, 2 ** 32, size=4)]
    for s in seeds:
        got = xorshift32_stream(s, n)
        assert got.dtype == np.uint32 and got.shape == (n,)
        assert got.tolist() == _python_stream(s, n), hex(s)
    assert xorshift32_stream(np.uint32(7), n).tolist() == _python_stream(7, n)


def test_xorshift32_seed_checks():
    for bad in (0, -1, 2 ** 32):
        with pytest.raises(ValueError):
            xorshift32_stream(bad, 4)
    for bad in (True, 1.0, "1", None):
        with pytest.raises(TypeError):
            xorshift32_stream(bad, 4)
    with pytest.raises(ValueError):
        r4_quantize(fp16([1.0]), rounding="stochastic", seed=0)


# --------------------------------------------------------------------------- GradScale


def test_grad_scale_exp_exhaustive():
    for a in FINITE_POSITIVE_FP16:
        g = grad_scale_exp(np.array([a]))
        scaled = np.ldexp(float(a), g)
        assert 32 < scaled <= 64, (float(a), g)


@pytest.mark.parametrize("rounding", ("nearest", "stochastic"))
def test_phase1_saturates_top_octave_under_grad_scale(rounding):
    """GradScale targets the phase-0 grid; in phase 1, |x| * 2^g > 32 saturates (documented)."""
    x = fp16([50.0, -33.0, 32.0, 20.0, -0.5])
    g = grad_scale_exp(x)
    assert g == 0
    seed = 3 if rounding == "stochastic" else None
    res0 = r4_quantize(x, phase=0, scale_exp=g, rounding=rounding, seed=seed, flags=True)
    assert not res0.saturated.any()
    res1 = r4_quantize(x, phase=1, scale_exp=g, rounding=rounding, seed=seed, flags=True)
    assert res1.saturated.tolist() == [True, True, False, False, False]
    assert r4_decode(res1.codes[:3], phase=1, scale_exp=g).tolist() == [32.0, -32.0, 32.0]


def test_grad_scale_exp_tensor_rules():
    assert grad_scale_exp(fp16([0.0, -0.0, 0.0])) == 0
    assert grad_scale_exp(fp16([-3.0, 1.0, 2.0])) == grad_scale_exp(fp16([3.0])) == 4
    assert grad_scale_exp(fp16([[-64.0], [1.0]])) == 0
    assert grad_scale_exp(fp16([1.0, -65504.0])) == -10
    assert grad_scale_exp(np.array([0x0001], dtype=np.uint16).view(np.float16)) == 30
    # float64 input is rounded to FP16 first: 2 - 2^-12 rounds (RNE) to 2.0 -> g = 5, not 4.
    assert grad_scale_exp(np.array([2.0 - 2.0 ** -12])) == 5
    for bad in ([np.nan], [1.0, np.inf], [-np.inf], [1e6]):   # 1e6 rounds to FP16 Inf
        with pytest.raises(ValueError), np.errstate(over="ignore"):
            grad_scale_exp(np.array(bad))
    with pytest.raises(ValueError, match="non-empty"):
        grad_scale_exp(np.array([], dtype=np.float16))
    with pytest.raises(TypeError):
        grad_scale_exp(np.array([1, 2]))


# --------------------------------------------------------------------------- argument checks


def test_bad_arguments():
    x = fp16([1.0, -2.0])
    for bad in (np.array([1, 2]), np.array([1, 2], dtype=np.uint16), np.array([True]), [1, 2]):
        with pytest.raises(TypeError):
            r4_quantize(bad)
    for bad in (2, -1, True, False, None, 1.0, np.array([0, 1])):
        with pytest.raises(ValueError):
            r4_quantize(x, phase=bad)
        with pytest.raises(ValueError):
            r4_decode(np.arange(16), phase=bad)
        with pytest.raises(ValueError):
            r4_shift(np.arange(16), phase=bad)
    for bad in ("round", "Nearest", None):
        with pytest.raises(ValueError):
            r4_quantize(x, rounding=bad)
    for bad in (SCALE_EXP_MAX + 1, SCALE_EXP_MIN - 1):
        with pytest.raises(ValueError):
            r4_quantize(x, scale_exp=bad)
        with pytest.raises(ValueError):
            r4_decode(np.arange(16), scale_exp=bad)
    assert (SCALE_EXP_MIN, SCALE_EXP_MAX) == (-128, 127)
    for bad in (1.0, True, "3"):
        with pytest.raises(TypeError):
            r4_quantize(x, scale_exp=bad)
    with pytest.raises(ValueError):
        r4_quantize(x, seed=5)
    for bad in (16, -1, 255):
        with pytest.raises(ValueError):
            r4_decode(np.array([bad]))


def test_wider_floats_round_to_nearest_even_fp16_first():
    # 2.5 - 2^-12 is below the 2.5 tie in float64, but rounds (RNE) to FP16 2.5, which rounds
    # up to 4 (field 5); truncation to FP16 would give 2.498 and round down to 1 (field 4).
    x = np.array([2.5 - 2.0 ** -12, -(2.5 - 2.0 ** -12)])
    assert r4_quantize(x).tolist() == [5, 0b1101]
    assert r4_quantize(x.astype(np.float32)).tolist() == [5, 0b1101]
    # Python scalars and lists of floats are accepted and keep their shape.
    assert r4_quantize(2.5).shape == () and int(r4_quantize(2.5)) == 5
    assert r4_quantize([[1.0, -64.0]]).tolist() == [[4, 0b1111]]


# --------------------------------------------------------------------------- docs/numerics.md

DOC = Path(__file__).resolve().parents[2] / "docs" / "numerics.md"
TABLE_BEGIN = "<!-- r4-table:begin (generated: python -m verif.golden.test_formats) -->"
TABLE_END = "<!-- r4-table:end -->"


def _fmt_value(v: float) -> str:
    if v == 0:
        return "0"
    _, e = np.frexp(abs(v))                                 # |v| = 0.5 * 2^e
    return f"{'-' if v < 0 else '+'}2^{e - 1} = {'-' if v < 0 else ''}{abs(v):g}"


def render_r4_table() -> str:
    """The R4 code table of docs/numerics.md, from r4_decode (scale exponent 0)."""
    c = np.arange(16)
    v0, v1 = r4_decode(c, phase=0), r4_decode(c, phase=1)
    rows = ["| code | s | e | phase 0 | phase 1 | INT4 x R4 shift (phase 0 / 1) |",
            "|---|---|---|---|---|---|"]
    for code in c:
        s0, s1 = r4_shift(code, phase=0), r4_shift(code, phase=1)
        shift = "none (zero)" if code & 7 == 0 else f"{s0} / {s1}"
        rows.append(f"| `{code >> 3}{code & 7:03b}` | {code >> 3} | {code & 7} | "
                    f"{_fmt_value(v0[code])} | {_fmt_value(v1[code])} | {shift} |")
    return "\n".join(rows)


def test_doc_r4_table_matches_r4_decode():
    text = DOC.read_text()
    block = re.search(re.escape(TABLE_BEGIN) + r"\n(.*?)\n" + re.escape(TABLE_END), text, re.S)
    assert block, f"{DOC} lacks the generated R4 table markers"
    assert block.group(1) == render_r4_table(), "regenerate: python -m verif.golden.test_formats"


if __name__ == "__main__":
    print(TABLE_BEGIN)
    print(render_r4_table())
    print(TABLE_END)


@pytest.mark.parametrize("state,error", [(0, ValueError), (-1, ValueError),
                                         (2 ** 32, ValueError), (1.5, TypeError),
                                         ("1", TypeError), (True, TypeError)])
def test_xorshift32_step_refuses_states_outside_32_bits(state, error):
    with pytest.raises(error, match=r"state must be (an integer|in 1\.\.4294967295)"):
        xorshift32_step(state)
    assert xorshift32_step(np.uint32(0xFFFFFFFF)) == xorshift32_step(0xFFFFFFFF)


@pytest.mark.parametrize("n,error", [(-1, ValueError), (1.5, TypeError), ("3", TypeError)])
def test_xorshift32_stream_names_a_bad_length(n, error):
    with pytest.raises(error, match=r"\bn must be"):
        xorshift32_stream(1, n)


def test_grad_scale_exp_says_when_a_finite_input_overflows_fp16():
    with pytest.raises(ValueError, match=r"x holds finite values that round to \+-Inf in FP16 "
                                         r"\(\|x\| >= 65520\)"), np.errstate(over="ignore"):
        grad_scale_exp(np.float32([1e5]))
    with pytest.raises(ValueError, match="x holds NaN or Inf"):
        grad_scale_exp(np.float16([np.inf]))


@pytest.mark.skipif(np.finfo(np.longdouble).nmant < 63, reason="long double is float64 here")
def test_long_double_is_rounded_to_fp16_once():
    """Every pattern of a sweep of long doubles just above, at and below the FP16 ties (and the
    midpoints of the overflow and subnormal ends) rounds as one RNE step on the exact value:
    the nearest FP16 value, ties to the even significand, compared with Fraction arithmetic."""
    ld = np.longdouble
    finite = FINITE_POSITIVE_FP16.astype(ld)
    lo, hi = finite[:-1], finite[1:]
    mid = (lo + hi) / 2                                   # exact in a 64-bit significand
    eps = ld(2) ** -62
    for x in (mid, mid * (1 + eps), mid * (1 - eps), -mid * (1 + eps)):
        got = to_fp16(x)
        for xv, gv in zip(x[::97], got[::97]):
            want = _rne_fp16(Fraction(*xv.as_integer_ratio()))
            assert gv.view(np.uint16) == want.view(np.uint16), (repr(xv), gv, want)
    # The example of the numerics contract: 1 + 2^-11 + 2^-60 is above the tie.
    assert to_fp16(np.array([ld(1) + ld(2) ** -11 + ld(2) ** -60]))[0] == 1 + 2 ** -10
    assert r4_quantize(np.array([ld(1) + ld(2) ** -11 + ld(2) ** -60]), phase=0)[0] == \
        r4_quantize(np.float16([1 + 2 ** -10]))[0]


def _rne_fp16(exact: Fraction) -> np.float16:
    """The FP16 value nearest to the rational ``exact`` (ties to even), by search."""
    mag = abs(exact)
    values = FINITE_POSITIVE_FP16
    idx = int(np.searchsorted(values.astype(np.float64), float(mag)))
    best = None
    for i in range(max(idx - 2, 0), min(idx + 2, len(values))):
        v = values[i]
        d = abs(Fraction(float(v)) - mag)
        key = (d, int(v.view(np.uint16)) & 1)
        if best is None or key < best[0]:
            best = (key, v)
    v = best[1]
    return -v if exact < 0 else v
