"""E2M1 (FP4) elements and the E8M0 / E4M3 block scales of MXFP4 and NVFP4 (docs/numerics.md §10).

Codes are ``numpy.uint8`` bit patterns, as everywhere in fourbit: E2M1 in 0..15 (sign bit 3,
exponent bits 2..1, mantissa bit 0), E8M0 and E4M3 in 0..255. Decoders return float64, which
holds every value exactly.

Every encoder rounds the exact real value once. :func:`round_to_grid` rounds a quotient
``mag / unit`` onto a grid of magnitudes without rounding on the rounded quotient: it compares
``mag`` with midpoints and stochastic thresholds multiplied by ``unit``, products that float64
holds exactly for the grids and units used here (at most 16 + 28 significant bits). Stochastic rounding follows the R4 quantizer's convention
(golden.formats): one 16-bit xorshift32 draw ``r`` per element, up iff ``r < ceil(P(up) * 2^16)``.
"""

from __future__ import annotations

import numpy as np

from golden.checks import check_codes, check_float32, check_int_array, check_rounding
from golden.format_table import FORMATS, ElemFormat
from golden.formats import DEFAULT_SEED, xorshift32_stream

#: Rounding modes of the E2M1 quantizer (the format table's entry).
ROUNDINGS = FORMATS[ElemFormat.E2M1].roundings
#: E2M1 magnitudes of codes 0..7 (codes 8..15 are their negatives).
E2M1_MAGNITUDES = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])
E2M1_MAX = 6.0
#: E8M0: value 2^(code - 127) for codes 0..254; 0xFF is NaN. There is no zero.
E8M0_BIAS = 127
E8M0_NAN = 0xFF
#: E4M3 (the "fn" variant: no Inf): magnitudes of codes 0..126, 0x7F / 0xFF are NaN.
E4M3_MAGNITUDES = np.array([(m if e == 0 else 8 + m) * 2.0 ** (max(e, 1) - 10)
                            for e in range(16) for m in range(8)][:127])
E4M3_MAX = 448.0
E4M3_NAN = 0x7F


def round_to_grid(mag, unit, grid, *, rounding="nearest", draws=None) -> np.ndarray:
    """Index into ``grid`` of ``mag / unit`` rounded onto it, saturating at its last point.

    ``grid`` is a sorted float64 array of magnitudes starting at 0 whose consecutive gaps are
    powers of two and whose points are at most twice their lower neighbours (E2M1, E4M3).
    ``mag`` (finite, >= 0) and ``unit`` (> 0) are float64 arrays that broadcast. ``nearest``
    rounds ties to the even index (the even mantissa); ``stochastic`` rounds up from grid point
    lo towards hi iff ``draws < ceil((mag / unit - lo) / (hi - lo) * 2^16)``, with ``draws``
    the 16-bit draws (int64, same shape). Returns int64 indices 0..len(grid) - 1.

    Only the choice of the lower neighbour uses the float64 quotient ``mag / unit``; it is
    right because the callers' quotients are exact (power-of-two ``unit``) or are FP32 values
    over ``unit`` of at most 28 significant bits: then mag != g * unit means they differ by at
    least about 2^-33 relatively, far more than the quotient's rounding error of 2^-53, so the
    rounded quotient lies on the same side of every grid point g as the exact one.
    """
    with np.errstate(over="ignore"):        # saturating magnitudes may overflow; never used
        return _round_to_grid(mag, unit, grid, rounding, draws)


def _round_to_grid(mag, unit, grid, rounding, draws):
    top = grid.size - 1
    i = np.searchsorted(grid, mag / unit, side="right") - 1
    lo, hi = grid[i], grid[np.minimum(i + 1, top)]
    if rounding == "nearest":
        twice, mid = 2 * mag, (lo + hi) * unit
        up = (twice > mid) | ((twice == mid) & (i % 2 == 1))
    else:
        up = draws * ((hi - lo) * unit) < (mag - lo * unit) * 2.0 ** 16
    return i + (up & (i < top))


def stochastic_draws(rounding: str, seed, shape) -> np.ndarray | None:
    """The 16-bit draws (int64, ``shape``) of a stochastic rounding, one per element in C order
    from ``seed`` (default :data:`golden.formats.DEFAULT_SEED`); None for ``nearest``."""
    if rounding == "nearest":
        return None
    n = int(np.prod(shape, dtype=np.int64))
    draws = xorshift32_stream(DEFAULT_SEED if seed is None else seed, n) >> 16
    return draws.astype(np.int64).reshape(shape)


# --------------------------------------------------------------------------- E2M1


def e2m1_decode(codes) -> np.ndarray:
    """E2M1 codes -> float64 values +-{0, 0.5, 1, 1.5, 2, 3, 4, 6}; code 8 is -0.0."""
    c = check_codes(codes)
    mag = E2M1_MAGNITUDES[c & 7]
    return np.where(c >> 3 == 1, -mag, mag)


def e2m1_quantize(x, *, rounding="nearest", seed=None) -> np.ndarray:
    """Round FP32 values to E2M1 codes, saturating at +-6.

    Parameters
    ----------
    x : array_like of float16, float32 or float64
        Values; float64 is first rounded to float32 (golden.checks.check_float32).
    rounding : {"nearest", "stochastic"}
        ``nearest`` is round-to-nearest, ties to even mantissa. ``stochastic`` moves a value
        between grid neighbours lo < |x| < hi up with probability ceil((|x| - lo) / (hi - lo)
        * 2^16) / 2^16; values on the grid never move.
    seed : int, optional
        Stochastic only: xorshift32 seed, 1..2**32-1, default golden.formats.DEFAULT_SEED. One
        draw per element in C order, whatever the element is.

    Returns
    -------
    numpy.ndarray of uint8, the shape of ``x``
        The sign is x's sign (so -0.0 and negative values that round to zero give code 8);
        |x| >= 6 and +-Inf give +-6 (codes 7 / 15); NaN gives code 0.
    """
    seed = check_rounding(rounding, seed, ROUNDINGS)
    v = check_float32(x)
    return e2m1_round(v, np.float64(1.0), rounding, stochastic_draws(rounding, seed, v.shape))


def e2m1_round(v, unit, rounding, draws) -> np.ndarray:
    """E2M1 codes of ``v / unit`` (float64 arrays that broadcast, ``unit`` > 0 or 0), rounded
    as :func:`e2m1_quantize` says. A zero ``unit`` stands for a zero quotient: +-0 by v's
    sign. Callers validate; the products of :func:`round_to_grid` must be exact."""
    nan = np.isnan(v)
    mag = np.where(nan, 0.0, np.minimum(np.abs(v), np.finfo(np.float64).max))
    safe_unit = np.where(unit > 0, unit, 1.0)
    idx = round_to_grid(mag, safe_unit, E2M1_MAGNITUDES, rounding=rounding, draws=draws)
    idx = np.where(unit > 0, idx, 0)
    sign = np.signbit(v) & ~nan
    return ((sign.astype(np.uint8) << 3) | idx.astype(np.uint8)).astype(np.uint8)


# --------------------------------------------------------------------------- E8M0


def e8m0_decode(codes) -> np.ndarray:
    """E8M0 codes 0..255 -> float64 2^(code - 127); 0xFF is NaN."""
    c = check_int_array(codes, 0, 255, kind="codes must be an integer array of 8-bit codes",
                        within="codes must hold 8-bit codes 0..255").astype(np.int64)
    return np.where(c == E8M0_NAN, np.nan, np.ldexp(1.0, c - E8M0_BIAS))


def e8m0_encode(values) -> np.ndarray:
    """Powers of two 2^-127..2^127 -> E8M0 codes 0..254, NaN -> 0xFF (uint8).

    E8M0 holds nothing else: any other value (zero, negative, Inf, not a power of two, out of
    range) is a ValueError naming it. MX scales are chosen as exponents, never rounded.
    """
    v = np.asarray(values, dtype=np.float64)
    frac, exp = np.frexp(v)
    ok = np.isnan(v) | ((frac == 0.5) & (exp - 1 >= -E8M0_BIAS) & (exp - 1 <= E8M0_BIAS))
    if not ok.all():
        raise ValueError(f"E8M0 holds only NaN and powers of two 2^-127..2^127, not "
                         f"{v[~ok].flat[0]!r}")
    return np.where(np.isnan(v), E8M0_NAN, exp - 1 + E8M0_BIAS).astype(np.uint8)


# --------------------------------------------------------------------------- E4M3


def e4m3_decode(codes) -> np.ndarray:
    """E4M3 ("fn": bias 7, no Inf) codes 0..255 -> float64; 0x7F and 0xFF are NaN, 0x80 is -0."""
    c = check_int_array(codes, 0, 255, kind="codes must be an integer array of 8-bit codes",
                        within="codes must hold 8-bit codes 0..255").astype(np.int64)
    low = c & 0x7F
    mag = np.where(low == E4M3_NAN, np.nan, E4M3_MAGNITUDES[np.minimum(low, 126)])
    return np.where(c >> 7 == 1, -mag, mag)


def e4m3_encode(x) -> np.ndarray:
    """FP32 values -> E4M3 codes, round-to-nearest-even, finite values saturating at +-448.

    ``x`` is taken as golden.checks.check_float32 says. NaN and +-Inf give the NaN code with
    x's sign (0x7F / 0xFF); -0.0 and negative values that round to zero give 0x80.
    """
    v = check_float32(x)
    special = ~np.isfinite(v)
    mag = np.where(special, 0.0, np.abs(v))
    idx = np.where(special, E4M3_NAN, round_to_grid(mag, np.float64(1.0), E4M3_MAGNITUDES))
    return ((np.signbit(v).astype(np.int64) << 7) | idx).astype(np.uint8)
