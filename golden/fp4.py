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
#: E2M1 values of codes 0..15, the decode table (code 8 is -0.0).
E2M1_VALUES = np.concatenate([E2M1_MAGNITUDES, -E2M1_MAGNITUDES])
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
    return np.asarray(E2M1_VALUES[check_codes(codes)])     # 0-d in, 0-d array out


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
    """E2M1 codes of ``v / unit`` (arrays that broadcast: FP32 values ``v`` held as float64 or
    float32, float64 ``unit`` > 0 or 0), rounded as :func:`e2m1_quantize` says. A zero ``unit``
    stands for a zero quotient: +-0 by v's sign. Callers validate; the products of
    :func:`round_to_grid` must be exact.

    The element index is :func:`round_to_grid`'s on E2M1_MAGNITUDES, bit for bit, computed by
    :func:`_e2m1_index` (verif/golden/test_blockfp.py compares the two)."""
    shape = np.broadcast_shapes(np.shape(v), np.shape(unit))
    v = np.broadcast_to(v, shape or (1,))           # 0-d in: a numpy.uint8 scalar out
    with np.errstate(invalid="ignore"):             # float32 signalling NaNs are data
        mag = np.abs(v, dtype=np.float64)            # a new array, rounded in place below
    sign = np.signbit(v)
    if mag.size and not np.isfinite(mag.max()):      # NaN -> +0; +-Inf -> largest float64
        nan = np.isnan(mag)
        sign &= ~nan
        mag = np.where(nan, 0.0, np.minimum(mag, np.finfo(np.float64).max))
    unit = np.asarray(unit, dtype=np.float64)
    zero_unit = ~(unit > 0)
    any_zero = bool(zero_unit.any())
    if any_zero:
        unit = np.where(zero_unit, 1.0, unit)
    idx = _e2m1_index(mag, unit, rounding, draws)
    if any_zero:
        idx = np.where(zero_unit, 0, idx).astype(np.uint8)
    idx |= sign.view(np.uint8) << 3
    return idx if shape else idx[0]


# E2M1 rounding by the binade of the quotient q = mag / unit, read off its float64 bits: for
# q >= 0, row = bits >> 51 is (biased exponent b, first mantissa bit m) = 2 b + m, and the
# rows of a grid interval share its lower point and neighbours. By q = 1.m x 2^(b - 1023):
#   q       [0, .5)  [.5, 1)  [1, 1.5)  [1.5, 2)  [2, 3)  [3, 4)  [4, 6)  [6, +inf]
#   row     < 2044  2044-2045  2046      2047     2048    2049    2050    > 2050
#   lower      0         1        2         3        4       5       6        7
# (subnormal q and +0 fall in row 0, +inf in row 4094). The top point never rounds up: its
# rows' midpoint and threshold offset are +inf and its step 0, so no comparison passes.
_ROW = np.arange(4096)
_E2M1_LOWER = np.select([_ROW < 2044, _ROW < 2046, _ROW <= 2050], [0, 1, _ROW - 2044],
                        7).astype(np.uint8)
_E2M1_TOP = _E2M1_LOWER == E2M1_MAGNITUDES.size - 1
_E2M1_LO = E2M1_MAGNITUDES[_E2M1_LOWER]
_E2M1_HI = E2M1_MAGNITUDES[np.minimum(_E2M1_LOWER + 1, E2M1_MAGNITUDES.size - 1)]
_E2M1_MID = np.where(_E2M1_TOP, np.inf, (_E2M1_LO + _E2M1_HI) / 2)
_E2M1_ODD = (_E2M1_LOWER % 2).astype(np.int64)                   # ties round up from odd
_E2M1_BASE = np.where(_E2M1_TOP, np.inf, _E2M1_LO)
_E2M1_STEP = np.where(_E2M1_TOP, 0.0, _E2M1_HI - _E2M1_LO)


def _e2m1_index(mag, unit, rounding, draws) -> np.ndarray:
    """``round_to_grid(mag, unit, E2M1_MAGNITUDES, ...)`` as uint8, for ``mag`` a fresh
    float64 array (finite, >= 0, the broadcast shape; it is overwritten) and ``unit`` > 0.

    The lower index comes from the same float64 quotient ``mag / unit``, read off its exponent
    and first mantissa bit (the table above) instead of a binary search. The decisions compare
    the same exact values as round_to_grid (mag against (lo + hi) / 2 unit, that is 2 mag
    against (lo + hi) unit; draws (hi - lo) unit against (mag - lo unit) 2^16), so the indices
    are equal bit for bit.
    """
    with np.errstate(over="ignore"):                 # saturating magnitudes may overflow
        row = (mag / unit).view(np.int64)            # the quotient's bits; q >= 0
        np.right_shift(row, 51, out=row)
        idx = _E2M1_LOWER.take(row)
        if rounding == "nearest":
            mid = _E2M1_MID.take(row)
            mid *= unit
            # Up iff mag > mid, or mag == mid from an odd index. Non-negative floats order as
            # their bit patterns, so that is bits(mag) + odd > bits(mid) (mag < +inf: no carry).
            bits = mag.view(np.int64)
            bits += _E2M1_ODD.take(row)
            up = bits > mid.view(np.int64)
        else:
            base = _E2M1_BASE.take(row)
            base *= unit
            mag -= base
            mag *= 2.0 ** 16
            step = _E2M1_STEP.take(row)
            step *= unit
            step *= draws
            up = step < mag
    idx += up
    return idx


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
