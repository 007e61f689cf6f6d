"""Bit-exact 4-bit number formats: INT4, UINT4 and radix-4 FP4 (R4), per docs/numerics.md.

Every 4-bit code in fourbit is a ``numpy.uint8`` holding the raw bit pattern 0..15, whatever the
format; the format says how the pattern decodes. Keeping codes as patterns (not values) is what
lets the golden model and the RTL be compared with ``==``.

R4 quantization is written in integer arithmetic on the FP16 fields (exponent logic plus two
mantissa bits for nearest rounding; an integer comparison against a 16-bit random draw for
stochastic rounding), which is exactly what the hardware lane does. The random draws come from
:func:`xorshift32_stream`, specified in docs/numerics.md.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

from golden.checks import (  # noqa: F401  (the register ranges, importable beside their use)
    PHASES, SCALE_EXP_BITS, SCALE_EXP_MAX, SCALE_EXP_MIN, check_codes, check_int_array,
    check_int_in_range, check_phase, check_scale_exp, check_seed)
from golden.fp16 import Fp16Fields, fp16_fields, to_fp16  # noqa: F401  (to_fp16: the quantizers' input)
from golden.format_table import (  # noqa: F401  (the table, importable beside its codecs)
    A_FORMATS, B_FORMATS, FORMATS, GEMM_MODES, ElemFormat, FormatSpec, format_of)

#: Rounding modes of the R4 quantizer.
ROUNDINGS = FORMATS[ElemFormat.R4].roundings
#: R4 exponent field of the largest level (value 4^3 before phase and scale).
R4_EMAX = 7
#: Default stochastic-rounding seed (any value in 1 .. 2**32-1 is allowed; 0 is not).
DEFAULT_SEED = 0x9E3779B9


# --------------------------------------------------------------------------- INT4 / UINT4


def int4_decode(codes) -> np.ndarray:
    """Two's-complement 4-bit patterns -> int8 values -8..7."""
    c = check_codes(codes).astype(np.int8)
    return np.where(c >= 8, c - 16, c).astype(np.int8)


def int4_encode(values) -> np.ndarray:
    """Integer values -8..7 -> 4-bit two's-complement patterns."""
    v = check_int_array(values, -8, 7, kind="values must be integers",
                        within="INT4 values must be in -8..7")
    return (v.astype(np.int16) & 0xF).astype(np.uint8)


def uint4_decode(codes) -> np.ndarray:
    """UINT4 patterns -> values 0..15 (the identity, with checking)."""
    return check_codes(codes).astype(np.int8)


def uint4_encode(values) -> np.ndarray:
    """Integer values 0..15 -> UINT4 patterns."""
    return check_int_array(values, 0, 15, kind="values must be integers",
                           within="UINT4 values must be in 0..15").astype(np.uint8)


# --------------------------------------------------------------------------- random generator


def xorshift32_step(state: int) -> int:
    """One step of Marsaglia's xorshift32 (shifts 13, 17, 5); the reference for the RTL.

    ``state`` is an integer in 1..2**32-1: 0 is the generator's fixed point, and anything
    outside 32 bits is not a state the register can hold.
    """
    state = check_int_in_range("state", state, 1, 0xFFFFFFFF,
                               " (a non-zero 32-bit xorshift32 state)")
    state ^= (state << 13) & 0xFFFFFFFF
    state ^= state >> 17
    state ^= (state << 5) & 0xFFFFFFFF
    return state


#: Length of one block of steps of the jump table.
XORSHIFT_BLOCK = 1024


@lru_cache(maxsize=None)
def xorshift32_jump_columns() -> np.ndarray:
    """cols[k, b] = the state k+1 steps after seed 1 << b (read-only, 1024 x 32 uint32).

    xorshift32 is linear over GF(2), so the state k+1 steps after any seed is the XOR of the
    columns of its set bits: the table :func:`xorshift32_stream` and the table backend's byte
    tables are built from.
    """
    cols = np.zeros((XORSHIFT_BLOCK, 32), dtype=np.uint32)
    for b in range(32):
        s = 1 << b
        for k in range(XORSHIFT_BLOCK):
            s = xorshift32_step(s)
            cols[k, b] = s
    cols.flags.writeable = False
    return cols


def xorshift32_stream(seed: int, n: int) -> np.ndarray:
    """The first ``n`` outputs of xorshift32 from ``seed`` (each output = the state after a step).

    Vectorised by linearity: the states of a block of steps are XORs of precomputed columns
    selected by the bits of the block's starting state, so no Python loop runs per element.
    """
    check_seed(seed)
    n = check_int_in_range("n", n, 0, np.iinfo(np.intp).max, " (the number of outputs)")
    cols = xorshift32_jump_columns()
    out = np.empty(n, dtype=np.uint32)
    state = int(seed)
    for start in range(0, n, XORSHIFT_BLOCK):
        block = np.zeros(XORSHIFT_BLOCK, dtype=np.uint32)
        for b in range(32):
            if state >> b & 1:
                block ^= cols[:, b]
        take = min(XORSHIFT_BLOCK, n - start)
        out[start:start + take] = block[:take]
        state = int(block[-1])
    return out


# --------------------------------------------------------------------------- R4


class R4Result(NamedTuple):
    """Codes plus the per-element flags the hardware lane raises."""

    codes: np.ndarray      # uint8 R4 codes
    invalid: np.ndarray    # bool: input was NaN or +-Inf
    saturated: np.ndarray  # bool: finite input with |x| * 2^(g+p) > 64, clipped to the top level


def r4_quantize(x, *, phase=0, scale_exp=0, rounding="nearest", seed=None, flags=False):
    """Quantize FP16 values to R4 codes (docs/numerics.md section 3), bit-exact with the RTL lane.

    Parameters
    ----------
    x : array_like of float
        FP16 values. Wider floats are first rounded to FP16 with round-to-nearest-even, because
        the hardware lane only ever sees FP16; integer arrays are rejected.
    phase : {0, 1}
        TPR phase: 0 selects the even grid (powers of 4), 1 the odd grid.
    scale_exp : int
        GradScale exponent g, within the signed 8-bit register range -128..127.
    rounding : {"nearest", "stochastic"}
    seed : int, optional
        Stochastic rounding only: xorshift32 seed (1..2**32-1), default :data:`DEFAULT_SEED`.
        Exactly one draw is consumed per element in C (row-major) order, whatever its value.
    flags : bool
        Also return the ``invalid`` and ``saturated`` masks (as :class:`R4Result`).

    Returns
    -------
    numpy.ndarray of uint8, or R4Result
        Codes of the same shape as ``x``; NaN gives code 0 and +-Inf gives +-max, both flagged.
    """
    p = check_phase(phase)
    g = check_scale_exp(scale_exp)
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {ROUNDINGS}, not {rounding!r}")
    if rounding == "nearest" and seed is not None:
        raise ValueError("seed is only meaningful with rounding='stochastic'")
    h = to_fp16(x)
    fld = fp16_fields(h.ravel())
    ey = fld.exp + g + p                     # floor(log2 y), y = |x| * 2^(g+p)
    if rounding == "nearest":
        j = np.floor_divide(ey, 2)           # level L = 4^j with L <= y < 4L
        t = ey - 2 * j                       # 0: y in [L, 2L), 1: y in [2L, 4L)
        up = (t == 1) & (fld.man >= 1280)    # y >= 2.5 L  <=>  fraction >= 0.25 in [2L, 4L)
        below = np.where(ey == -7, 0, -1)    # [2^-7, 2^-6) -> 4^-3, smaller -> 0
        level = np.where(ey >= -6, j + up, below - 3)
        codes = _r4_codes(fld, np.where(ey >= 6, 3, level))   # y >= 64: the top level
    else:
        down, up, threshold = r4_stochastic_choice(fld, g + p)
        draws = xorshift32_stream(DEFAULT_SEED if seed is None else seed, ey.size)
        codes = np.where((draws >> 16).astype(np.int64) < threshold, up, down)
    codes = codes.reshape(h.shape)
    if not flags:
        return codes
    finite_nz = ~(fld.zero | fld.nan | fld.inf)
    invalid = (fld.nan | fld.inf).reshape(h.shape)
    saturated = (finite_nz & ((ey > 6) | ((ey == 6) & (fld.man > 1024)))).reshape(h.shape)
    return R4Result(codes, invalid, saturated)


def r4_stochastic_choice(fld: Fp16Fields, shift: int):
    """Stochastic R4 rounding of FP16 values (their :func:`golden.fp16.fp16_fields`) at
    g + p = ``shift``, as data: (code rounded down, code rounded up, threshold T).

    The result is the up code iff the element's 16-bit draw r is below T = ceil(P(up) * 2^16)
    (docs/numerics.md section 3.2): in range, r < T  <=>  ``r * 3072 < ((man << t) - 1024) << 16``;
    below 4^-3, r < T  <=>  ``r < man * 2^(ey + 12)``. Zero, NaN, Inf and saturated values
    have equal codes both ways. :func:`r4_quantize` and the table backend's per-pattern tables
    both use it.
    """
    man = fld.man
    ey = fld.exp + shift
    j = np.floor_divide(ey, 2)
    t = ey - 2 * j
    inside, top = ey >= -6, ey >= 6
    # In range: P(up) = (y - L) / 3L = (man * 2^t - 1024) / 3072.
    thr_in = -(-(((man << t) - 1024) << 16) // 3072)
    # Below 4^-3: P(up) = y / 4^-3 = man * 2^(ey - 4), times 2^16 is man * 2^(ey + 12).
    sh = ey + 12
    thr_lo = np.where(sh >= 0, man << np.clip(sh, 0, 40), -(-man >> np.clip(-sh, 0, 40)))
    down = np.where(top, 3, np.where(inside, j, -4))
    up = np.where(top, 3, np.where(inside, j + 1, -3))
    return _r4_codes(fld, down), _r4_codes(fld, up), np.where(inside, thr_in, thr_lo)


def _r4_codes(fld: Fp16Fields, level) -> np.ndarray:
    """uint8 R4 codes of the levels 4^level of finite non-zero values (-4 and below: zero);
    zero and NaN give code 0, +-Inf the top code."""
    finite_nz = ~(fld.zero | fld.nan | fld.inf)
    efield = np.where(finite_nz & (level >= -3), level + 4, 0)
    efield = np.where(fld.inf, R4_EMAX, efield)
    return np.where(efield > 0, (fld.sign << 3) | efield, 0).astype(np.uint8)


def r4_decode(codes, *, phase=0, scale_exp=0) -> np.ndarray:
    """R4 codes -> float64 values (-1)^s * 2^(2e - 8 - phase - scale_exp); e = 0 decodes to 0."""
    p = check_phase(phase)
    g = check_scale_exp(scale_exp)
    c = check_codes(codes).astype(np.int64)
    e = c & 7
    mag = np.where(e > 0, np.ldexp(1.0, 2 * e - 8 - p - g), 0.0)
    return np.where(c >> 3 == 1, -mag, mag)


def r4_shift(codes, *, phase=0) -> np.ndarray:
    """Left-shift amount 2e - 1 - phase of each non-zero R4 code: product units are 2^-7.

    An INT4 x R4 product is ``a << r4_shift(b)`` (negated when b's sign is set) in units of
    2^-7 at scale exponent 0; the scale exponent is applied once, at read-out.
    """
    p = check_phase(phase)
    e = check_codes(codes).astype(np.int64) & 7
    return np.where(e > 0, 2 * e - 1 - p, 0)


def grad_scale_exp(x) -> int:
    """GradScale exponent g = floor(log2(64 / amax)) of an FP16 tensor; 0 for an all-zero tensor.

    ``amax * 2^g`` lies in (32, 64]. Wider floats are first rounded to FP16, as for
    :func:`r4_quantize`. NaN or Inf has no meaningful scale and is rejected.
    """
    wide = np.asarray(x)
    h = to_fp16(wide)
    if h.size == 0:
        raise ValueError("grad_scale_exp needs a non-empty tensor x")
    if not np.isfinite(h).all():
        if wide.dtype != np.float16 and np.isfinite(wide).all():
            raise ValueError("grad_scale_exp: x holds finite values that round to +-Inf in "
                             "FP16 (|x| >= 65520), which have no GradScale exponent")
        raise ValueError("grad_scale_exp: x holds NaN or Inf, which have no GradScale exponent")
    return scale_exp_of_amax(np.abs(h).max())


def scale_exp_of_amax(amax) -> int:
    """The GradScale rule itself: g = floor(log2(64 / amax)) of one finite FP16 ``amax`` (the
    largest magnitude of a tensor), 0 for zero; in scalar integers on the FP16 fields, as the
    hardware amax tracker computes it. A FloatingPointError for NaN or Inf."""
    bits = int(np.float16(amax).view(np.uint16)) & 0x7FFF
    e, f = bits >> 10, bits & 0x3FF
    if e == 31:
        raise FloatingPointError("GradScale: amax is NaN or Inf")
    if bits == 0:
        return 0
    if e == 0:                                  # subnormal: f * 2^-24
        exp, pow2 = f.bit_length() - 25, f & (f - 1) == 0
    else:
        exp, pow2 = e - 15, f == 0
    # amax = 1.f * 2^exp: a power of two gives 6 - exp, anything larger 5 - exp.
    return 6 - exp if pow2 else 5 - exp
